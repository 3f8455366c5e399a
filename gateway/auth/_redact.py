"""Keep tokens out of logs: URL redaction and a scrubber applied to every log record.

The gateway never logs a token on purpose; this is the net under the mistakes (a request
line with ``?token=``, an exception that prints a header, a third-party library's debug line).
"""

from __future__ import annotations

import logging
import re
from typing import Any

__all__ = [
    "REDACTED",
    "TokenRedactingFilter",
    "install_log_redaction",
    "redact_token_in_url",
    "redact_tokens",
]

REDACTED = "[REDACTED]"

# Query parameters that carry credentials (`token` is accepted on /ws for old clients).
_QUERY_SECRET = re.compile(
    r"(?i)([?&;](?:access_token|id_token|refresh_token|token|jwt|auth|code|client_secret)=)"
    r"[^&;#\s\"']*"
)
# A JWS/JWE header is base64url JSON, so it begins "eyJ" ('{"'); require one more dotted part.
_JWT_LIKE = re.compile(r"eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)+")
# Three long base64url segments even without the "eyJ" prefix (a header with odd spacing).
_THREE_SEGMENTS = re.compile(r"[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}")
# 20+ characters: real tokens are longer, and "the bearer subprotocol ..." stays readable.
_BEARER = re.compile(r"(?i)(bearer[\s,]+)[A-Za-z0-9._~+/=-]{20,}")


def redact_tokens(text: str) -> str:
    """Replace anything that looks like a token or a credential query value."""
    text = _QUERY_SECRET.sub(lambda m: m.group(1) + REDACTED, text)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    text = _JWT_LIKE.sub(REDACTED, text)
    return _THREE_SEGMENTS.sub(REDACTED, text)


def redact_token_in_url(url: str) -> str:
    """The URL (or request target) with credential query values and JWTs replaced."""
    return redact_tokens(url)


# Attributes every LogRecord has; anything else came from `extra=` and is scrubbed too.
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class TokenRedactingFilter(logging.Filter):
    """Scrubs the message, arguments, exception text and ``extra`` fields of each record.

    Attach it to handlers (``handler.addFilter``), or use ``install_log_redaction`` which
    covers every record of every logger, including handlers added later.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record)
        return True


def scrub_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a broken format string must still not leak its arguments
        message = f"{record.msg!s} (unformattable arguments)"
    cleaned = redact_tokens(message)
    record.msg, record.args = cleaned, None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact_tokens(record.exc_text)
    if record.stack_info:
        record.stack_info = redact_tokens(record.stack_info)
    for name, value in list(vars(record).items()):
        if name not in _STANDARD_ATTRS:
            setattr(record, name, _scrub_value(value))


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_tokens(value)
    if isinstance(value, dict):
        return {k: _scrub_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrub_value(v) for v in value)
    return value


_installed = False


def install_log_redaction() -> None:
    """Scrub every record at creation, and ``extra`` fields at the root handlers (idempotent).

    ``extra=`` attributes are attached after the record factory runs, so the root logger's
    handlers also get a ``TokenRedactingFilter``; give handlers created later one as well.
    """
    global _installed
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, TokenRedactingFilter) for f in handler.filters):
            handler.addFilter(TokenRedactingFilter())
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        scrub_record(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
