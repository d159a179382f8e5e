"""``energy serve``: the HTTP API and the status page over a home."""

from __future__ import annotations

import logging
import os
import socket

import click

from energy_core.cli.options import home_option
from energy_core.errors import ConfigError, MissingExtraError
from energy_core.home import Home

LIBRARIES = ("fastapi", "uvicorn", "prometheus_client")
"""What the ``serve`` extra brings (``prometheus_client`` is the distribution ``prometheus-client``)."""


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Any address but a loopback one needs ENERGY_SERVE_TOKEN.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port (0: any free one; the address is printed).")
@click.option("--cors-origin", "cors_origins", multiple=True,
              help="An origin a browser may call the API from, e.g. https://grid.example.org (repeatable; default: "
                   "none, no CORS).")
@click.option("--max-days", default=366, show_default=True, type=click.IntRange(1),
              help="Longest time range of one observations request.")
@click.option("--max-rows", default=1_000_000, show_default=True, type=click.IntRange(1),
              help="Largest `limit` of one observations request.")
@click.option("--access-log/--no-access-log", default=True, show_default=True, help="Log one line per request.")
@home_option
def serve_command(host: str, port: int, cors_origins: tuple[str, ...], max_days: int, max_rows: int,
                  access_log: bool, home: Home) -> None:
    """Serve forecasts, the live context, observations, status and metrics over HTTP, and a status page at /.

    \b
    Routes: /v1/forecast/{entity}, /v1/context/{entity}?hours=N,
    /v1/observations?dataset=&region=&series=&start=&end=&format=, /v1/status, /metrics, /healthz, /docs.
    Set ENERGY_SERVE_TOKEN (at least 16 characters) to require `Authorization: Bearer <token>`;
    listening beyond 127.0.0.1 requires it.
    """
    from energy_core.serve.settings import TOKEN_VARIABLE, ServeSettings, check_exposure

    token = os.environ.get(TOKEN_VARIABLE) or None
    check_exposure(host, token)
    if home.lake is None and not home.root.is_dir():
        raise ConfigError(f"no home at {home}: store data with `energy run` first, or pass --home")
    try:
        import uvicorn

        from energy_core.serve.app import create_app
    except ModuleNotFoundError as exc:
        if exc.name not in LIBRARIES:
            raise
        raise MissingExtraError(f"`energy serve` needs {exc.name}, which is not installed: "
                                "pip install 'energy-core[serve]', or 'energy-core[all]' for every part") from exc
    settings = ServeSettings(home=home, token=token, cors_origins=cors_origins, max_days=max_days,
                             max_rows=max_rows, default_rows=min(100_000, max_rows))
    listener = _bind(host, port)
    if logging.getLogger().getEffectiveLevel() > logging.INFO:
        logging.getLogger("uvicorn").setLevel(logging.INFO)  # its start line and, with --access-log, each request
    bound = listener.getsockname()
    shown = f"[{bound[0]}]" if listener.family == socket.AF_INET6 else bound[0]
    guard = "" if token is None else "; every request but /healthz and /docs needs the bearer token"
    click.echo(f"serving {home} at http://{shown}:{bound[1]}/ (API docs at /docs){guard}", err=True)
    config = uvicorn.Config(create_app(settings), log_config=None, access_log=access_log, server_header=False,
                            timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[listener])


def _bind(host: str, port: int) -> socket.socket:
    """A socket listening on ``host``:``port``, so the address (a free port for 0) is known before serving."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        listener = socket.socket(family, kind, proto)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port or --host"
                          ) from None
    listener.listen(2048)
    return listener
