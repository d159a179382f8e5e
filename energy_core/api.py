"""Everything a plugin author imports, from one place.

A plugin implements the hooks of :mod:`energy_core.hookspecs` (marked with :data:`hookimpl`) and
builds its components from the classes here: a :class:`Source` that plans and fetches through the
:class:`Http` client the core hands it, a :class:`Normalizer` that turns its rows into canonical
observations (:data:`POLARS_SCHEMA`), optionally a :class:`Sink`, and a :class:`Simulator` that
imitates its service on loopback for tests and ``energy run --simulate`` (slow and throttling too,
with a :class:`Throttle`); its :class:`EntitySpec` s (made of :class:`Selector` s) tell the feature
store what to fuse; a :class:`QualityCheck`, a :class:`PlotPanel` and its :class:`Setting` s (the
environment variables it reads) are what it adds to ``energy quality``, ``energy plot`` and
``energy config show``. Errors come from the
:class:`EnergyError` family: a transient one is retried, any other fails the window.
"""

import importlib
from typing import TYPE_CHECKING

from energy_core.errors import (
    AuthError,
    ConfigError,
    EnergyError,
    IncompleteFetchError,
    InvalidRequestError,
    PayloadValidationError,
    QuotaExhaustedError,
    RateLimitedError,
    SchemaError,
    SourceError,
    StorageError,
    TransientSourceError,
    UnexpectedPayloadError,
)
from energy_core.home import Home
from energy_core.hookspecs import hookimpl
from energy_core.plugin.contributions import (
    EntitySpec,
    PanelStyle,
    PlotPanel,
    QualityCheck,
    Selector,
    Setting,
)
from energy_core.plugin.interfaces import (
    Budget,
    CacheMode,
    Fetched,
    FetchRequest,
    Http,
    HttpResponse,
    Normalizer,
    RateBudget,
    RawBatch,
    Sink,
    SinkStats,
    Source,
    SourceContext,
    Window,
)
from energy_core.plugin.simulator import SimRequest, SimResponse, Simulator, Throttle, Traffic
from energy_core.plugin.windows import month_windows, parse_utc

if TYPE_CHECKING:
    from energy_core.storage.flags import FLAG_SCHEMA
    from energy_core.storage.schema import ARROW_SCHEMA, COLUMNS, KEY, POLARS_SCHEMA, validate_observations

_STORAGE = {
    "ARROW_SCHEMA": "energy_core.storage.schema",
    "COLUMNS": "energy_core.storage.schema",
    "KEY": "energy_core.storage.schema",
    "POLARS_SCHEMA": "energy_core.storage.schema",
    "validate_observations": "energy_core.storage.schema",
    "FLAG_SCHEMA": "energy_core.storage.flags",
}
"""Names that load on first use: they bring polars and pyarrow, which loading a plugin does without."""

__all__ = [
    "ARROW_SCHEMA",
    "COLUMNS",
    "FLAG_SCHEMA",
    "KEY",
    "POLARS_SCHEMA",
    "AuthError",
    "Budget",
    "CacheMode",
    "ConfigError",
    "EnergyError",
    "EntitySpec",
    "FetchRequest",
    "Fetched",
    "Home",
    "Http",
    "HttpResponse",
    "IncompleteFetchError",
    "InvalidRequestError",
    "Normalizer",
    "PanelStyle",
    "PayloadValidationError",
    "PlotPanel",
    "QualityCheck",
    "QuotaExhaustedError",
    "RateBudget",
    "RateLimitedError",
    "RawBatch",
    "SchemaError",
    "Selector",
    "Setting",
    "SimRequest",
    "SimResponse",
    "Simulator",
    "Sink",
    "SinkStats",
    "Source",
    "SourceContext",
    "SourceError",
    "StorageError",
    "Throttle",
    "Traffic",
    "TransientSourceError",
    "UnexpectedPayloadError",
    "Window",
    "hookimpl",
    "month_windows",
    "parse_utc",
    "validate_observations",
]


def __getattr__(name: str) -> object:
    if name not in _STORAGE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_STORAGE[name]), name)
