"""The ``caiso`` plugin: registered through the entry point ``caiso`` in group ``energy``.

Each hook imports its components when it is called, so loading the plugin (every ``energy`` command
does, ``energy --help`` too) stays cheap: no data library is imported until a component is needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from energy_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from energy_core.api import EntitySpec, Normalizer, Setting, Source


@hookimpl
def register_sources() -> list[type[Source]]:
    from energy_caiso.source import CaisoSource

    return [CaisoSource]


@hookimpl
def register_normalizers() -> list[type[Normalizer]]:
    from energy_caiso.normalize import CaisoNormalizer

    return [CaisoNormalizer]


@hookimpl
def register_settings() -> list[Setting]:
    from energy_caiso.api import DEFAULT_OASIS_URL, DEFAULT_OUTLOOK_URL, OASIS_URL_VARIABLE, OUTLOOK_URL_VARIABLE
    from energy_core.api import Setting

    return [
        Setting(OASIS_URL_VARIABLE, f"CAISO OASIS API base URL (default {DEFAULT_OASIS_URL})"),
        Setting(OUTLOOK_URL_VARIABLE, f"CAISO Today's Outlook base URL (default {DEFAULT_OUTLOOK_URL})"),
    ]


@hookimpl
def register_entities() -> list[EntitySpec]:
    """CAISO's system series and its trading hubs' prices (features ``caiso.lmp@np15``, ...) join the
    entity of the CAISO balancing authority, ``CISO``, which the EIA plugin defines."""
    from energy_caiso.api import HUB_NODES
    from energy_caiso.reports import SYSTEM
    from energy_core.api import EntitySpec, Selector

    hubs = tuple(Selector("caiso.lmp", f"CAISO.HUB.{hub}", hub.lower()) for hub in HUB_NODES.values())
    return [EntitySpec(SYSTEM, (Selector("caiso.", SYSTEM), *hubs))]
