"""Name -> component lookup over everything the loaded plugins registered."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Generic, TypeVar

import pluggy

from energy_core.errors import DuplicateComponentError, UnknownComponentError
from energy_core.plugin.interfaces import Normalizer, Sink, Source

C = TypeVar("C")


@dataclass(frozen=True)
class Entry(Generic[C]):
    component: type[C]
    plugin: str


class ComponentTable(Generic[C]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[C]] = {}

    def add(self, component: type[C], plugin: str) -> None:
        name = getattr(component, "name", None)
        if not isinstance(name, str) or not name:
            raise DuplicateComponentError(f"{self.kind} {component!r} from plugin {plugin!r} has no 'name'")
        if name in self._entries:
            first = self._entries[name]
            raise DuplicateComponentError(
                f"two plugins register a {self.kind} named {name!r}: "
                f"{first.component.__module__}.{first.component.__qualname__} (plugin {first.plugin!r}) and "
                f"{component.__module__}.{component.__qualname__} (plugin {plugin!r}); "
                f"disable one with ENERGY_DISABLE_PLUGINS"
            )
        self._entries[name] = Entry(component, plugin)

    def get(self, name: str) -> type[C]:
        try:
            return self._entries[name].component
        except KeyError:
            known = sorted(self._entries)
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UnknownComponentError(
                f"unknown {self.kind} {name!r}.{hint} Known {self.kind}s: {', '.join(known) or 'none'} "
                f"(install a plugin that provides it, e.g. pip install energy-{name})"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def by_plugin(self, plugin: str) -> list[str]:
        return sorted(n for n, e in self._entries.items() if e.plugin == plugin)


class Registry:
    """Every source, normalizer and sink the plugin manager's plugins provide, by name."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.sources: ComponentTable[Source] = ComponentTable("source")
        self.normalizers: ComponentTable[Normalizer] = ComponentTable("normalizer")
        self.sinks: ComponentTable[Sink] = ComponentTable("sink")
        info = getattr(pm, "info", None)
        self.versions: dict[str, str | None] = {
            name: info(plugin).version if info else None
            for plugin in pm.get_plugins() if (name := pm.get_name(plugin))}
        """Plugin name -> the version of the distribution it came from (recorded with every run)."""
        for hook, table in (
            (pm.hook.register_sources, self.sources),
            (pm.hook.register_normalizers, self.normalizers),
            (pm.hook.register_sinks, self.sinks),
        ):
            for impl in hook.get_hookimpls():
                for component in impl.function() or ():
                    table.add(component, impl.plugin_name)

    def source(self, name: str) -> type[Source]:
        return self.sources.get(name)

    def normalizer(self, name: str) -> type[Normalizer]:
        return self.normalizers.get(name)

    def sink(self, name: str) -> type[Sink]:
        return self.sinks.get(name)
