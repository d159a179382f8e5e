"""Monitoring: objectives and checks of a home, incidents that fire once and resolve once, and the
alerters that hear of them.

``check(home, settings, alerters)`` is ``energy monitor`` as a library call. The names load on first
use, so reading the settings does not import polars.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from energy_core.ops.monitor.alerters import create_alerters
    from energy_core.ops.monitor.checks import MonitorReport, check
    from energy_core.ops.monitor.settings import MonitorSettings, Objective

__all__ = ["MonitorReport", "MonitorSettings", "Objective", "check", "create_alerters"]

_NAMES = {
    "MonitorReport": "energy_core.ops.monitor.checks",
    "check": "energy_core.ops.monitor.checks",
    "create_alerters": "energy_core.ops.monitor.alerters",
    "MonitorSettings": "energy_core.ops.monitor.settings",
    "Objective": "energy_core.ops.monitor.settings",
}


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_NAMES[name]), name)
