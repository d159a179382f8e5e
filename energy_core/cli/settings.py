"""User configuration: ``energy.toml``, under the command-line flags.

Every flag of every command can be set in a table named after the command (``[run]``,
``[quality]``, ``[train]``, ``[features.build]``, ...), with the flag's name in snake case; a flag
given on the command line wins. Besides flags: ``home``, request ``[budgets.<source>]`` and
``[entities.<name>]`` (as in ``entities.toml``). Secrets never live here: they come from
environment variables only (each plugin declares the ones it reads, see ``register_settings``), and a
key that looks like one is refused.

The file is ``--config PATH``, else ``$ENERGY_CONFIG``, else ``./energy.toml`` when present.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from energy_core.errors import ConfigError
from energy_core.ingest.redaction import REDACTED, looks_secret
from energy_core.plugin.contributions import Setting

if TYPE_CHECKING:
    from energy_core.cli.config_schema import EnergyConfig

CONFIG_VARIABLE = "ENERGY_CONFIG"
DEFAULT_FILE = "energy.toml"
_SECRET_WORDS = ("api_key", "apikey", "token", "password", "secret")
"""Environment variables named like these are masked even when no plugin declares them."""


def find(explicit: Path | None) -> Path | None:
    if explicit is not None:
        return explicit
    if os.environ.get(CONFIG_VARIABLE):
        return Path(os.environ[CONFIG_VARIABLE])
    return Path(DEFAULT_FILE) if Path(DEFAULT_FILE).is_file() else None


def load(path: Path | None, declared: Callable[[], Sequence[Setting]] = tuple) -> EnergyConfig:
    """Read and check ``path``; ``declared`` gives the plugins' settings, asked for only to name a secret
    setting when the file holds something that looks like a secret."""
    from pydantic import ValidationError

    from energy_core.cli.config_schema import EnergyConfig

    if path is None:
        return EnergyConfig()
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    _refuse_secrets(raw, path, declared)
    try:
        config = EnergyConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {problems}") from None
    config.path = path
    return config


def default_map(config: EnergyConfig, cli: click.Group) -> dict[str, Any]:
    """Click's ``default_map`` for ``cli``: each command's table, checked against its flags, with
    ``home`` given to every command that has a ``--home``."""
    return _defaults(config.commands, cli, config.home, config.path, prefix="")


def _defaults(tables: dict[str, Any], group: click.Group, home: str | None, path: Path | None,
              prefix: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, table in tables.items():
        command = group.commands.get(name)
        if command is None or not isinstance(table, dict):
            known = ", ".join(sorted(group.commands))
            raise ConfigError(f"{path}: [{prefix}{name}] is not a command (commands: {known})")
        if isinstance(command, click.Group):
            result[name] = _defaults(table, command, home, path, prefix=f"{prefix}{name}.")
            continue
        params = {p.name for p in command.params if isinstance(p, click.Option)}
        unknown = sorted(set(table) - params)
        if unknown:
            raise ConfigError(f"{path}: [{prefix}{name}] has no setting(s) {unknown}; it takes {sorted(params)}")
        result[name] = dict(table)
    if home is not None:
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                result.setdefault(name, _defaults({}, command, home, path, prefix=f"{prefix}{name}."))
            elif any(p.name == "home" for p in command.params):
                result.setdefault(name, {}).setdefault("home", str(home))
    return result


def _refuse_secrets(raw: dict[str, Any], path: Path, declared: Callable[[], Sequence[Setting]],
                    where: str = "") -> None:
    for key, value in raw.items():
        if any(word in key.lower().replace("-", "_") for word in _SECRET_WORDS):
            example = next((f" (e.g. {s.variable})" for s in declared() if s.secret), "")
            raise ConfigError(f"{path}: '{where}{key}' looks like a secret; secrets are read from environment "
                              f"variables only{example}, never from files")
        if isinstance(value, dict):
            _refuse_secrets(value, path, declared, f"{where}{key}.")


def effective(config: EnergyConfig, ctx: click.Context, declared: Sequence[Setting]) -> dict[str, Any]:
    """What each command will use (file values over defaults); the environment: every setting a plugin
    declares (``None`` when unset), ``ENERGY_*`` and anything named like a secret, secrets masked; and
    what each declared setting is for."""
    root = ctx.find_root()
    secrets = {s.variable for s in declared if s.secret}
    shown = {s.variable for s in declared} | {k for k in os.environ if k.startswith("ENERGY_") or looks_secret(k)}
    environment = {k: _masked(k, os.environ.get(k), secrets) for k in sorted(shown)}
    return {"file": str(config.path) if config.path else None, "home": str(config.home) if config.home else None,
            "budgets": {k: v.model_dump() for k, v in config.budgets.items()}, "entities": config.entities,
            "commands": _settings(cast(click.Group, root.command), dict(root.default_map or {})),
            "environment": environment,
            "settings": {s.variable: {"description": s.description, "secret": s.variable in secrets}
                         for s in sorted(declared, key=lambda s: s.variable)}}


def _settings(group: click.Group, defaults: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """``"features build" -> {option: value}`` for every command under ``group``."""
    settings: dict[str, dict[str, Any]] = {}
    for name, command in sorted(group.commands.items()):
        table = defaults.get(name, {})
        if isinstance(command, click.Group):
            settings |= _settings(command, table, f"{prefix}{name} ")
        else:
            settings[prefix + name] = {p.name: table.get(p.name, _default(p)) for p in command.params
                                       if isinstance(p, click.Option)}
    return settings


def _default(option: click.Option) -> Any:
    unset = option.default is getattr(click.core, "UNSET", object()) or callable(option.default)
    return None if unset else option.default


def _masked(variable: str, value: str | None, secrets: set[str]) -> str | None:
    return REDACTED if value is not None and (variable in secrets or looks_secret(variable)) else value

