"""What a server is asked to do, and the rule that keeps it private: an address beyond this machine
needs a bearer token."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from energy_core.errors import ConfigError
from energy_core.home import Home

TOKEN_VARIABLE = "ENERGY_SERVE_TOKEN"
MIN_TOKEN_LENGTH = 16
_MAKE_TOKEN = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


@dataclass(frozen=True)
class ServeSettings:
    home: Home | Path
    token: str | None = field(default=None, repr=False)
    """Every request but ``/healthz`` and the API docs must carry it (``Authorization: Bearer ...``)."""
    cors_origins: tuple[str, ...] = ()
    """Origins a browser may call the API from; none: no CORS headers at all."""
    max_days: int = 366
    """The longest time range one observations request may ask for."""
    max_rows: int = 1_000_000
    """The largest ``limit`` an observations request may ask for."""
    default_rows: int = 100_000
    max_context_hours: int = 8760
    """The most hours ``/v1/context`` serves, and the hours of each entity the server keeps at hand."""
    answer_cache_bytes: int = 64 * 2**20
    """Memory for observation answers kept until their table changes (a repeated range is not read again)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, token: str | None) -> None:
    """Refuse to listen beyond this machine without a token, or with one too short to resist guessing."""
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(f"{TOKEN_VARIABLE} is too short ({len(token)} characters; at least {MIN_TOKEN_LENGTH}): "
                          f"make one with {_MAKE_TOKEN}")
    if token is None and not is_loopback(host):
        raise ConfigError(f"--host {host} would serve beyond this machine without authentication; set "
                          f"{TOKEN_VARIABLE} to a secret (make one with {_MAKE_TOKEN}) and send it as "
                          "`Authorization: Bearer <token>`, or serve on 127.0.0.1")
