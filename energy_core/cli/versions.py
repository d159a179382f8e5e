"""The versions of energy-core and its plugins, read from the installed metadata (each package's
pyproject.toml is the one place its version is written): ``energy --version``, ``energy doctor``."""

from __future__ import annotations

from importlib import metadata

from energy_core.plugin.manager import EnergyPluginManager

CORE = "energy-core"


def version_of(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def plugin_versions(pm: EnergyPluginManager) -> dict[str, dict[str, str | None]]:
    """Installed plugins other than energy-core's built-ins: name -> distribution and version."""
    infos = (pm.info(plugin) for plugin in pm.get_plugins())
    return {info.name: {"distribution": info.distribution, "version": info.version}
            for info in sorted(infos, key=lambda i: i.name) if info.distribution not in (None, CORE)}


def versions(pm: EnergyPluginManager) -> str:
    """energy-core's version, then one line per plugin."""
    lines = [f"{CORE} {version_of(CORE) or 'unknown (not installed)'}"]
    lines += [f"{p['distribution']} {p['version']} (plugin {name})" for name, p in plugin_versions(pm).items()]
    return "\n".join(lines)
