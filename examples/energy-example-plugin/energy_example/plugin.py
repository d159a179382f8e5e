"""The hooks energy calls: this module is the entry point named in pyproject.toml."""

from __future__ import annotations

from energy_core.hookspecs import hookimpl
from energy_example.normalize import ExampleNormalizer
from energy_example.source import ExampleSource


@hookimpl
def register_sources():
    return [ExampleSource]


@hookimpl
def register_normalizers():
    return [ExampleNormalizer]
