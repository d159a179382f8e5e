"""The ``caiso`` plugin: registered through the entry point ``caiso`` in group ``energy``."""

from __future__ import annotations

from energy_caiso.normalize import CaisoNormalizer
from energy_caiso.source import CaisoSource
from energy_core.hookspecs import hookimpl


@hookimpl
def register_sources():
    return [CaisoSource]


@hookimpl
def register_normalizers():
    return [CaisoNormalizer]
