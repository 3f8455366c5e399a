"""The bottom floor: every setting Parley reads, and the operator-facing error tree.

    config.settings   Settings (one field per environment variable), Role, load_settings
    config.errors     ParleyError and the failures that end a command with one clear line

Imports nothing of Parley; the layers above take what they need from a Settings at
assembly time.
"""
