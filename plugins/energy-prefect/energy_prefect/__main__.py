"""``python -m energy_prefect serve``: serve the deployments (hourly ingest, the daily flow, weekly
training, the monitor) until stopped.

It needs a Prefect API: ``prefect server start`` on this machine, or Prefect Cloud (``PREFECT_API_URL``,
``PREFECT_API_KEY``). The monitor's objectives and webhooks are the ``[monitor]`` table of ``energy.toml``
(``--config``, else ``$ENERGY_CONFIG``, else ``./energy.toml`` when present).
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

from energy_core.api import ConfigError, Objective


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m energy_prefect", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="Serve the deployments until stopped.")
    serve.add_argument("--home", default=os.environ.get("ENERGY_HOME", "data"),
                       help="The home the flows work on (default: $ENERGY_HOME, else data).")
    serve.add_argument("--source", dest="sources", action="append", help="Source to ingest (repeatable; default eia).")
    serve.add_argument("--region", dest="regions", action="append", default=[],
                       help="Region to ingest (repeatable; default all).")
    serve.add_argument("--simulate", action="store_true", help="Ingest from the simulators (a rehearsal).")
    serve.add_argument("--timezone", default="UTC", help="The zone of --daily-at and --train-at (default UTC).")
    serve.add_argument("--ingest-every", type=float, default=60.0, metavar="MINUTES", help="Default 60.")
    serve.add_argument("--daily-at", default="06:00", metavar="HH:MM", help="The daily flow's local time (06:00).")
    serve.add_argument("--train-on", default="sun", help="Day of the weekly retraining (sun), or never.")
    serve.add_argument("--train-at", default="03:00", metavar="HH:MM", help="Local time of the retraining (03:00).")
    serve.add_argument("--monitor-every", type=float, default=10.0, metavar="MINUTES", help="Default 10.")
    serve.add_argument("--config", type=Path, help="energy.toml, whose [monitor] holds objectives and webhooks.")
    return top


def monitor_settings(config: Path | None) -> dict[str, Any]:
    """The ``[monitor]`` table of the settings file (empty when there is none)."""
    path = config or (Path(os.environ["ENERGY_CONFIG"]) if os.environ.get("ENERGY_CONFIG") else None)
    if path is None:
        path = Path("energy.toml") if Path("energy.toml").is_file() else None
    if path is None:
        return {}
    try:
        return dict(tomllib.loads(path.read_text()).get("monitor", {}))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    from prefect import serve

    from energy_prefect.deployments import Schedule, deployments

    try:
        monitor = monitor_settings(args.config)
        objectives = tuple(monitor.get("objectives", ()))
        for objective in objectives:  # a mistake is told now, not at the first monitor run
            Objective.from_mapping(objective)
        schedule = Schedule(home=args.home, sources=tuple(args.sources or ["eia"]), regions=tuple(args.regions),
                            simulate=args.simulate, timezone=args.timezone,
                            ingest_every=timedelta(minutes=args.ingest_every), daily_at=args.daily_at,
                            train_on=args.train_on, train_at=args.train_at,
                            monitor_every=timedelta(minutes=args.monitor_every), objectives=objectives,
                            webhooks=tuple(monitor.get("webhooks", ())))
    except ConfigError as exc:
        sys.exit(f"error: {exc}")
    serve(*deployments(schedule))


if __name__ == "__main__":
    main()
