"""Keep credentials out of everything that leaves memory: URLs, bodies, logs and error text.

Secrets are redacted by value: once a key is registered, every form of it (raw, URL-encoded,
quote_plus-encoded) is replaced wherever it appears. Redacting by value rather than by
parameter name also catches the echo of the key inside EIA's response bodies.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import quote, quote_plus

REDACTED = "***"
_MIN_SECRET_LENGTH = 4

_lock = threading.Lock()
_forms: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret so that :func:`redact` removes it from now on."""
    if not value or len(value) < _MIN_SECRET_LENGTH:
        return
    with _lock:
        _forms.update({value, quote(value, safe=""), quote_plus(value)})


def _ordered_forms() -> list[str]:
    with _lock:
        return sorted(_forms, key=len, reverse=True)


def redact(text: str) -> str:
    """Return ``text`` with every registered secret replaced by ``***``."""
    for form in _ordered_forms():
        if form in text:
            text = text.replace(form, REDACTED)
    return text


def redact_bytes(data: bytes) -> bytes:
    """Byte-level :func:`redact`, for response bodies before they reach the cache."""
    for form in _ordered_forms():
        encoded = form.encode()
        if encoded in data:
            data = data.replace(encoded, REDACTED.encode())
    return data


class RedactingFilter(logging.Filter):
    """A logging filter that redacts secrets from the fully formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


THIRD_PARTY_LOGGERS = ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy")
"""Loggers of the HTTP stack that write request URLs (httpx logs every request at INFO)."""


def install_log_redaction() -> None:
    """Attach a :class:`RedactingFilter` to the HTTP stack's own loggers, whatever handlers a user has.

    Logger-level filters run before any handler, so an application's own logging setup (or pytest's
    caplog) never sees a key either. Safe to call repeatedly.
    """
    for name in THIRD_PARTY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
