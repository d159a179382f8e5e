"""The built-in ``lake`` sink as a plugin: the entry point ``lake`` names this module.

The hook imports the sink when it is called, so loading the plugin (every ``energy`` command does,
``energy --help`` too) does not import polars.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from energy_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from energy_core.plugin.interfaces import Sink


@hookimpl
def register_sinks() -> list[type[Sink]]:
    from energy_core.storage.sinks import LakeSink

    return [LakeSink]
