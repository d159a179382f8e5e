"""The ``eia`` plugin: registered through the entry point ``eia`` in group ``energy``."""

from __future__ import annotations

from energy_core.hookspecs import hookimpl
from energy_eia.normalize import EiaNormalizer
from energy_eia.source import EiaSource


@hookimpl
def register_sources():
    return [EiaSource]


@hookimpl
def register_normalizers():
    return [EiaNormalizer]
