"""Helpers shared by the integration, chaos and browser tests (not a test module)."""
