from __future__ import annotations

import textwrap

import pluggy
import pytest

from energy_core import hookimpl
from energy_core.errors import DuplicateComponentError, UnknownComponentError
from energy_core.plugin.interfaces import Sink
from energy_core.plugin.manager import PluginLoadWarning, get_plugin_manager
from energy_core.plugin.registry import Registry


class MemorySink(Sink):
    name = "memory"

    def write(self, observations):
        pass

    def close(self):
        pass


class MemoryPlugin:
    @hookimpl
    def register_sinks(self):
        return [MemorySink]


def install_plugin(root, name: str, module_source: str) -> None:
    """Lay out an installed distribution (module + dist-info with an entry point) under ``root``."""
    (root / f"{name}.py").write_text(textwrap.dedent(module_source))
    info = root / f"energy_{name}-1.2.3.dist-info"
    info.mkdir()
    info.joinpath("METADATA").write_text(f"Metadata-Version: 2.1\nName: energy-{name}\nVersion: 1.2.3\n")
    info.joinpath("entry_points.txt").write_text(f"[energy]\n{name} = {name}\n")


def test_builtins_and_installed_plugins_load_through_entry_points():
    pm = get_plugin_manager()
    assert {"lake", "core_commands", "eia", "caiso"} <= {pm.get_name(p) for p in pm.get_plugins()}
    registry = Registry(pm)
    assert "lake" in registry.sinks.names() and "eia" in registry.sources.names()


def test_plugin_object_registers_and_unregisters():
    pm = get_plugin_manager(extra=(MemoryPlugin(),))
    assert Registry(pm).sink("memory") is MemorySink
    pm.unregister(name=pm.get_name(next(p for p in pm.get_plugins() if isinstance(p, MemoryPlugin))))
    with pytest.raises(UnknownComponentError):
        Registry(pm).sink("memory")


def test_discovers_a_plugin_installed_in_a_folder(tmp_path, monkeypatch):
    install_plugin(tmp_path, "folderplug", """
        from energy_core import hookimpl
        from energy_core.plugin.interfaces import Sink

        class FolderSink(Sink):
            name = "folder"
            def write(self, observations): pass
            def close(self): pass

        @hookimpl
        def register_sinks():
            return [FolderSink]
    """)
    monkeypatch.syspath_prepend(str(tmp_path))
    pm = get_plugin_manager()
    assert Registry(pm).sink("folder").__name__ == "FolderSink"
    info = pm.infos["folderplug"]
    assert (info.distribution, info.version) == ("energy-folderplug", "1.2.3")


def test_broken_plugin_is_skipped_with_a_warning_naming_it(tmp_path, monkeypatch):
    install_plugin(tmp_path, "brokenplug", "raise ImportError('needs libfoo')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(PluginLoadWarning, match="skipped plugin 'brokenplug' .*needs libfoo"):
        pm = get_plugin_manager()
    assert pm.has_plugin("eia") and not pm.has_plugin("brokenplug")


def test_disable_env_blocks_named_plugins(monkeypatch):
    monkeypatch.setenv("ENERGY_DISABLE_PLUGINS", "eia, lake")
    pm = get_plugin_manager()
    assert not pm.has_plugin("eia") and not pm.has_plugin("lake") and pm.has_plugin("core_commands")


def test_misspelled_hook_fails_loudly():
    class Typo:
        @hookimpl
        def register_source(self):  # missing the final "s"
            return []

    with pytest.raises(pluggy.PluginValidationError, match="register_source"):
        get_plugin_manager(extra=(Typo(),))


def test_duplicate_component_names_both_plugins():
    class Again:
        @hookimpl
        def register_sinks(self):
            return [MemorySink]

    pm = get_plugin_manager(extra=(MemoryPlugin(), Again()))
    with pytest.raises(DuplicateComponentError, match="two plugins register a sink named 'memory'.*MemorySink.*and.*"
                                                      "MemorySink"):
        Registry(pm)


def test_unknown_name_lists_known_ones_and_suggests():
    registry = Registry(get_plugin_manager())
    with pytest.raises(UnknownComponentError,
                       match=r"unknown source 'eai'. Did you mean 'eia'\?.*Known sources: caiso, eia"):
        registry.source("eai")
