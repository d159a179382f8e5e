"""Name -> component lookup over everything the loaded plugins registered."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar, cast

import pluggy

from energy_core.errors import DuplicateComponentError, PluginError, UnknownComponentError
from energy_core.plugin.contributions import EntitySpec, PlotPanel, QualityCheck, Selector, Setting
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
                for component in cast("list[Any]", impl.function() or []):
                    table.add(component, impl.plugin_name)

    def source(self, name: str) -> type[Source]:
        return self.sources.get(name)

    def normalizer(self, name: str) -> type[Normalizer]:
        return self.normalizers.get(name)

    def sink(self, name: str) -> type[Sink]:
        return self.sinks.get(name)


def quality_checks(pm: pluggy.PluginManager) -> list[QualityCheck]:
    """The quality checks of every loaded plugin, in plugin order."""
    return _contributions(pm.hook.register_quality_checks)


def plot_panels(pm: pluggy.PluginManager) -> list[PlotPanel]:
    """The plot panels of every loaded plugin, in plugin order (the order ``energy plot`` draws them)."""
    return _contributions(pm.hook.register_plot_panels)


def declared_settings(pm: pluggy.PluginManager) -> list[Setting]:
    """The environment variables every loaded plugin declares it reads."""
    return _contributions(pm.hook.register_settings)


def entities(pm: pluggy.PluginManager, stored: Mapping[str, frozenset[str]]) -> dict[str, EntitySpec]:
    """Every entity the loaded plugins define, with the selectors of every plugin that extends it.

    :param stored: each stored dataset -> its stored regions (what the hook's implementations see).
    """
    arguments = {"stored": stored}  # an implementation may take fewer than the spec offers, as pluggy allows
    return merge_entities(
        (impl.plugin_name, spec) for impl in pm.hook.register_entities.get_hookimpls()
        for spec in cast("list[EntitySpec]", impl.function(**{a: arguments[a] for a in impl.argnames}) or []))


def merge_entities(contributed: Iterable[tuple[str, EntitySpec]]) -> dict[str, EntitySpec]:
    """Merge ``(plugin, spec)`` pairs by entity name: the definition's timezone and target, and the
    selectors of every spec (the definition's first, repeats dropped). Two definitions of one entity
    must agree; an entity only extended is left out."""
    definitions: dict[str, tuple[str, EntitySpec]] = {}
    selectors: dict[str, list[Selector]] = {}
    for plugin, spec in contributed:
        if spec.defines:
            if spec.name in definitions:
                first_plugin, first = definitions[spec.name]
                if (first.timezone, first.target) != (spec.timezone, spec.target):
                    raise PluginError(
                        f"two plugins define entity {spec.name!r} differently: plugin {first_plugin!r} "
                        f"(timezone {first.timezone}, target {first.target}) and plugin {plugin!r} (timezone "
                        f"{spec.timezone}, target {spec.target}); disable one with ENERGY_DISABLE_PLUGINS")
            else:
                definitions[spec.name] = (plugin, spec)
                selectors.setdefault(spec.name, [])[:0] = spec.selectors
                continue
        selectors.setdefault(spec.name, []).extend(spec.selectors)
    return {name: replace(spec, selectors=tuple(dict.fromkeys(selectors[name])))
            for name, (_, spec) in sorted(definitions.items())}


def _contributions(hook: pluggy.HookCaller) -> list[Any]:
    """Every plugin's answer to ``hook``, concatenated in registration order (pluggy calls in reverse)."""
    return [item for impl in hook.get_hookimpls() for item in cast("Iterable[Any]", impl.function() or ())]
