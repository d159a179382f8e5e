"""Build the plugin manager: built-ins and installed plugins, found the same way."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from importlib.metadata import entry_points

import pluggy

import energy_core.hookspecs as hookspecs  # not `from energy_core import`: that would load energy_core.api
from energy_core.hookspecs import PROJECT_NAME

DISABLE_ENV = "ENERGY_DISABLE_PLUGINS"
"""Comma-separated plugin (entry-point) names that must not be loaded."""


@dataclass(frozen=True)
class PluginInfo:
    name: str
    distribution: str | None
    version: str | None


class EnergyPluginManager(pluggy.PluginManager):
    """A pluggy manager that also remembers which distribution each plugin came from."""

    def __init__(self) -> None:
        super().__init__(PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}

    def info(self, plugin: object) -> PluginInfo:
        name = self.get_name(plugin) or repr(plugin)
        return self.infos.get(name, PluginInfo(name, None, None))


class PluginLoadWarning(UserWarning):
    """A plugin could not be imported and was skipped."""


def disabled_plugins(environ: os._Environ[str] | dict[str, str] | None = None) -> set[str]:
    raw = (environ if environ is not None else os.environ).get(DISABLE_ENV, "")
    return {name.strip() for name in raw.split(",") if name.strip()}


def get_plugin_manager(*, disable: set[str] | None = None, extra: tuple[object, ...] = ()) -> EnergyPluginManager:
    """Return a fresh plugin manager with every installed ``energy`` entry point loaded.

    A plugin that fails to import is skipped with a :class:`PluginLoadWarning` naming it; names in
    ``ENERGY_DISABLE_PLUGINS`` (or ``disable``) are not loaded at all. ``extra`` registers plugin
    objects directly (tests, embedding applications). Hook implementations are validated, so a
    misspelled hook name fails loudly.
    """
    pm = EnergyPluginManager()
    blocked = disabled_plugins() if disable is None else disable
    for ep in sorted(entry_points(group=PROJECT_NAME), key=lambda e: e.name):
        if ep.name in blocked or pm.has_plugin(ep.name):
            continue
        try:
            module = ep.load()
        except Exception as exc:  # a broken plugin must not take the tool down
            dist = ep.dist.name if ep.dist else "?"
            warnings.warn(
                f"skipped plugin {ep.name!r} ({dist}): import failed: {type(exc).__name__}: {exc}",
                PluginLoadWarning,
                stacklevel=2,
            )
            continue
        pm.register(module, name=ep.name)
        pm.infos[ep.name] = PluginInfo(ep.name, ep.dist.name if ep.dist else None, ep.dist.version if ep.dist else None)
    for plugin in extra:
        pm.register(plugin)
    pm.check_pending()
    return pm
