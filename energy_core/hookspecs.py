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
    from collections.abc import Mapping

    import click

    from energy_core.plugin.alerting import Alerter
    from energy_core.plugin.contributions import EntitySpec, PlotPanel, QualityCheck, Setting
    from energy_core.plugin.interfaces import Normalizer, Sink, Source
    from energy_core.plugin.tracking import Tracker

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


@hookspec
def register_quality_checks() -> list[QualityCheck]:
    """Return the :class:`~energy_core.plugin.contributions.QualityCheck` s that compare this plugin's
    datasets (``energy quality`` runs them after the core's per-series checks)."""


@hookspec
def register_plot_panels() -> list[PlotPanel]:
    """Return the :class:`~energy_core.plugin.contributions.PlotPanel` s ``energy plot`` draws for this
    plugin's feature columns, below the target panel."""


@hookspec
def register_settings() -> list[Setting]:
    """Return every environment variable this plugin reads, as
    :class:`~energy_core.plugin.contributions.Setting` s (``energy config show`` lists them and masks
    the secret ones)."""


@hookspec
def register_entities(stored: Mapping[str, frozenset[str]]) -> list[EntitySpec]:
    """Return the :class:`~energy_core.plugin.contributions.EntitySpec` s this plugin defines or extends:
    what the feature store fuses into one hourly table per entity.

    :param stored: each dataset in the processed store -> the regions stored for it (read on first
        access), e.g. ``{"eia.region": frozenset({"PACW", "CISO"}), ...}``; define an entity only for
        data that is there, so that ``energy features build`` builds what can be built.
    """


@hookspec
def register_trackers() -> list[type[Tracker]]:
    """Return the :class:`~energy_core.plugin.tracking.Tracker` classes this plugin provides: experiment
    trackers that ``energy train --tracker NAME`` (or ``[train] trackers`` in ``energy.toml``) logs a
    training run to, beside the local record."""


@hookspec
def register_alerters() -> list[type[Alerter]]:
    """Return the :class:`~energy_core.plugin.alerting.Alerter` classes this plugin provides: where
    ``energy monitor`` sends an alert when an incident opens and when it resolves, beside the built-in
    log, webhook and Prometheus alerters."""
