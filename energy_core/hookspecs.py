"""The whole plugin contract.

A plugin is a module (or object) with functions marked ``@hookimpl`` and named after the hooks
below. It is found through the entry-point group ``energy``: in its ``pyproject.toml``::

    [project.entry-points.energy]
    example = "energy_example.plugin"

Each hook returns what the plugin provides; the core collects the answers of every plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from energy_core.plugin.interfaces import Normalizer, Sink, Source

PROJECT_NAME = "energy"
"""Names the hook markers, the plugin manager and the entry-point group."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_sources() -> list[type[Source]]:
    """Return the :class:`~energy_core.plugin.interfaces.Source` classes this plugin provides."""


@hookspec
def register_normalizers() -> list[type[Normalizer]]:
    """Return the :class:`~energy_core.plugin.interfaces.Normalizer` classes this plugin provides."""


@hookspec
def register_sinks() -> list[type[Sink]]:
    """Return the :class:`~energy_core.plugin.interfaces.Sink` classes this plugin provides."""


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add subcommands to the ``energy`` command line.

    :param cli: the top-level ``energy`` group; call ``cli.add_command(...)`` or decorate with
        ``@cli.command()``.
    """
