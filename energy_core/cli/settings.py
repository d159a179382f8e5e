"""User configuration: ``energy.toml``, under the command-line flags.

Every flag of every command can be set in a table named after the command (``[run]``,
``[quality]``, ``[train]``, ``[features.build]``, ...), with the flag's name in snake case; a flag
given on the command line wins. Besides flags: ``home``, request ``[budgets.<source>]`` and
``[entities.<name>]`` (as in ``entities.toml``). Secrets never live here: they come from
environment variables only, and a key that looks like one is refused.

The file is ``--config PATH``, else ``$ENERGY_CONFIG``, else ``./energy.toml`` when present.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, ValidationError

from energy_core.errors import ConfigError
from energy_core.ingest.redaction import REDACTED
from energy_core.plugin.interfaces import RateBudget

CONFIG_VARIABLE = "ENERGY_CONFIG"
DEFAULT_FILE = "energy.toml"
SECRET_VARIABLES = ("EIA_API_KEY",)
"""Environment variables holding secrets; plugins add theirs with the ``_KEY``/``_TOKEN`` suffixes."""
_SECRET_WORDS = ("api_key", "apikey", "token", "password", "secret")


class BudgetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    requests: PositiveFloat
    per: PositiveFloat = 1.0
    burst: PositiveInt = 1

    def budget(self) -> RateBudget:
        return RateBudget(self.requests, self.per, self.burst)


class EnergyConfig(BaseModel):
    """The parsed file. Command tables are checked against the commands' flags when they are applied."""

    model_config = ConfigDict(extra="allow")
    home: Path | None = None
    budgets: dict[str, BudgetSpec] = Field(default_factory=dict)
    entities: dict[str, dict[str, Any]] = Field(default_factory=dict)
    path: Path | None = Field(default=None, exclude=True)

    @property
    def commands(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def find(explicit: Path | None) -> Path | None:
    if explicit is not None:
        return explicit
    if os.environ.get(CONFIG_VARIABLE):
        return Path(os.environ[CONFIG_VARIABLE])
    return Path(DEFAULT_FILE) if Path(DEFAULT_FILE).is_file() else None


def load(path: Path | None) -> EnergyConfig:
    if path is None:
        return EnergyConfig()
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    _refuse_secrets(raw, path)
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


def _defaults(tables: dict[str, Any], group: click.Group, home: Path | None, path: Path | None,
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


def _refuse_secrets(raw: dict, path: Path, where: str = "") -> None:
    for key, value in raw.items():
        if any(word in key.lower().replace("-", "_") for word in _SECRET_WORDS):
            raise ConfigError(f"{path}: '{where}{key}' looks like a secret; secrets are read from environment "
                              f"variables only (e.g. {SECRET_VARIABLES[0]}), never from files")
        if isinstance(value, dict):
            _refuse_secrets(value, path, f"{where}{key}.")


def effective(config: EnergyConfig, ctx: click.Context) -> dict[str, Any]:
    """What each command will use (file values over defaults), and the environment, secrets masked."""
    root = ctx.find_root()
    environment = {k: (REDACTED if _is_secret(k) else v) for k, v in sorted(os.environ.items())
                   if k.startswith(("ENERGY_", "EIA_")) or _is_secret(k)}
    return {"file": str(config.path) if config.path else None, "home": str(config.home) if config.home else None,
            "budgets": {k: v.model_dump() for k, v in config.budgets.items()}, "entities": config.entities,
            "commands": _settings(root.command, root.default_map or {}), "environment": environment}


def _settings(group: click.Group, defaults: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """``"features build" -> {option: value}`` for every command under ``group``."""
    settings = {}
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


def _is_secret(variable: str) -> bool:
    return variable in SECRET_VARIABLES or variable.endswith(("_KEY", "_TOKEN", "_SECRET", "_PASSWORD"))
