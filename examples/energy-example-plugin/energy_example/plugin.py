"""The hooks energy calls: this module is the entry point named in pyproject.toml.

Each hook imports its components when it is called, so loading the plugin (every ``energy`` command
does, ``energy --help`` too) stays cheap: no data library is imported until a component is needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from energy_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from collections.abc import Mapping

    from energy_core.api import EntitySpec, Normalizer, Setting, Source


@hookimpl
def register_sources() -> list[type[Source]]:
    from energy_example.source import ExampleSource

    return [ExampleSource]


@hookimpl
def register_normalizers() -> list[type[Normalizer]]:
    from energy_example.normalize import ExampleNormalizer

    return [ExampleNormalizer]


@hookimpl
def register_settings() -> list[Setting]:
    """Every environment variable the plugin reads: ``energy config show`` lists them, masking secrets."""
    from energy_core.api import Setting
    from energy_example.api import DEFAULT_URL, KEY_VARIABLE, URL_VARIABLE

    return [
        Setting(KEY_VARIABLE, "API key of the example service", secret=True),
        Setting(URL_VARIABLE, f"the example service's base URL (default {DEFAULT_URL})"),
    ]


@hookimpl
def register_entities(stored: Mapping[str, frozenset[str]]) -> list[EntitySpec]:
    """The feature store's entities: ``stored`` maps each stored dataset to its regions."""
    from energy_example.entities import entities

    return entities(stored)
