"""Everything a plugin author imports, from one place.

A plugin implements the hooks of :mod:`energy_core.hookspecs` (marked with :data:`hookimpl`) and
builds its components from the classes here: a :class:`Source` that plans and fetches through the
:class:`Http` client the core hands it, a :class:`Normalizer` that turns its rows into canonical
observations (:data:`POLARS_SCHEMA`), optionally a :class:`Sink`, and a :class:`Simulator` that
imitates its service on loopback for tests and ``energy run --simulate``. Errors come from the
:class:`EnergyError` family: a transient one is retried, any other fails the window.
"""

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
from energy_core.hookspecs import hookimpl
from energy_core.ingest.redaction import register_secret
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
from energy_core.plugin.simulator import SimRequest, SimResponse, Simulator
from energy_core.plugin.windows import month_windows, parse_utc
from energy_core.storage.schema import ARROW_SCHEMA, COLUMNS, KEY, POLARS_SCHEMA, validate_observations

__all__ = [
    "ARROW_SCHEMA",
    "COLUMNS",
    "KEY",
    "POLARS_SCHEMA",
    "AuthError",
    "Budget",
    "CacheMode",
    "ConfigError",
    "EnergyError",
    "FetchRequest",
    "Fetched",
    "Http",
    "HttpResponse",
    "IncompleteFetchError",
    "InvalidRequestError",
    "Normalizer",
    "PayloadValidationError",
    "QuotaExhaustedError",
    "RateBudget",
    "RateLimitedError",
    "RawBatch",
    "SchemaError",
    "SimRequest",
    "SimResponse",
    "Simulator",
    "Sink",
    "SinkStats",
    "Source",
    "SourceContext",
    "SourceError",
    "StorageError",
    "TransientSourceError",
    "UnexpectedPayloadError",
    "Window",
    "hookimpl",
    "month_windows",
    "parse_utc",
    "register_secret",
    "validate_observations",
]
