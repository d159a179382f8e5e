"""Keep credentials out of everything that leaves memory: URLs, bodies, logs and error text.

Secrets are redacted by value: once a key is known, every form of it (raw, URL-encoded,
quote_plus-encoded) is replaced wherever it appears. Redacting by value rather than by
parameter name also catches the echo of the key inside EIA's response bodies.

Secrets live in a :class:`SecretScope`, which a run (or a command) opens and closes: while a
scope is active, :func:`redact` removes its secrets and the HTTP stack's loggers carry a
:class:`RedactingFilter`; once the last scope closes, the filters are removed and its secrets
forgotten. Nothing is remembered beyond the scope that learned it.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from urllib.parse import quote, quote_plus

from energy_core.errors import EnergyError

REDACTED = "***"
_MIN_SECRET_LENGTH = 4

SECRET_SUFFIXES = ("_KEY", "_TOKEN", "_SECRET", "_PASSWORD")
"""Environment variables whose names end so are treated as credentials."""

THIRD_PARTY_LOGGERS = ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy")
"""Loggers of the HTTP stack that write request URLs (httpx logs every request at INFO)."""


class SecretScope:
    """The secrets one run or command knows, redacted everywhere while the scope is active.

    ``with SecretScope(values) as secrets:`` activates it; ``secrets.add(value)`` learns one more.
    Scopes may be active at once (nested, or in several threads): :func:`redact` removes the
    secrets of every active scope. Entering the same scope again is allowed; it stays active
    until every ``with`` has left.
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._forms: set[str] = set()
        self._lock = threading.Lock()
        for value in values:
            self.add(value)

    def add(self, value: str | None) -> None:
        """Learn a secret: from now on every form of it is redacted while this scope is active."""
        if not value or len(value) < _MIN_SECRET_LENGTH:
            return
        with self._lock:
            self._forms.update({value, quote(value, safe=""), quote_plus(value)})

    def forms(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._forms)

    def __enter__(self) -> SecretScope:
        _activate(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _deactivate(self)


@contextlib.contextmanager
def redacted_errors() -> Iterator[None]:
    """An :class:`EnergyError` leaving this block has the active scopes' secrets removed from its text,
    which is read (printed, recorded) after the scope that knew them has closed."""
    try:
        yield
    except EnergyError as exc:
        exc.args = (redact(str(exc)), *exc.args[1:])
        raise


def looks_secret(variable: str) -> bool:
    """Whether an environment variable's name says it holds a credential (``*_KEY``, ``*_TOKEN``, ...)."""
    return variable.upper().endswith(SECRET_SUFFIXES)


def secrets_in(env: Mapping[str, str]) -> list[str]:
    """The values of the variables in ``env`` whose names look like credentials."""
    return [value for name, value in env.items() if looks_secret(name) and value]


_active: list[SecretScope] = []
_active_lock = threading.Lock()


def _activate(scope: SecretScope) -> None:
    with _active_lock:
        if not _active:
            _attach_log_filters()
        _active.append(scope)


def _deactivate(scope: SecretScope) -> None:
    with _active_lock:
        _active.remove(scope)
        if not _active:
            _detach_log_filters()


def _ordered_forms() -> list[str]:
    """Every form of every active secret, longest first (so a key's encoded form goes before a part of it)."""
    with _active_lock:
        scopes = list(_active)
    return sorted(set().union(*(scope.forms() for scope in scopes)), key=len, reverse=True)


def redact(text: str) -> str:
    """Return ``text`` with every secret of the active scopes replaced by ``***``."""
    for form in _ordered_forms():
        if form in text:
            text = text.replace(form, REDACTED)
    return text


def redact_bytes(data: bytes) -> bytes:
    """Byte-level :func:`redact`, for response bodies before they reach the cache."""
    for form in _ordered_forms():
        data = _replace_all(data, form.encode(), REDACTED.encode())
    return data


def _replace_all(data: bytes, old: bytes, new: bytes) -> bytes:
    """``data.replace(old, new)`` in one search and, where ``old`` occurs, one copy (``bytes.replace``
    searches a body of megabytes twice; EIA echoes the key at the end of every page)."""
    found = _find(data, old, 0)
    if found < 0:
        return data
    view, start = memoryview(data), 0
    pieces: list[bytes | memoryview] = []
    while found >= 0:
        pieces += [view[start:found], new]
        start = found + len(old)
        found = _find(data, old, start)
    pieces.append(view[start:])
    return b"".join(pieces)


def _c_memmem() -> Callable[[int, int, bytes, int], int | None] | None:
    """The C library's ``memmem``, where ctypes finds one."""
    try:
        function = ctypes.CDLL(None).memmem
    except (OSError, AttributeError, TypeError):  # no C library to load by name (Windows), or no memmem in it
        return None
    function.restype = ctypes.c_void_p
    function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    return function


_MEMMEM = _c_memmem()


def _find(data: bytes, old: bytes, start: int) -> int:
    """``data.find(old, start)``, through the C library's ``memmem`` where there is one: half the time on a
    page of a megabyte, and without holding the GIL, which the run's other threads are waiting for."""
    if _MEMMEM is None:
        return data.find(old, start)
    base = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value or 0  # the bytes' own buffer, not a copy
    found = _MEMMEM(base + start, len(data) - start, old, len(old))
    return -1 if found is None else found - base


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


_LOG_FILTER = RedactingFilter()


def _attach_log_filters() -> None:
    """Put the filter on the HTTP stack's own loggers: logger-level filters run before any handler, so
    an application's own logging setup (or pytest's caplog) never sees a key either."""
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).addFilter(_LOG_FILTER)


def _detach_log_filters() -> None:
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).removeFilter(_LOG_FILTER)
