"""energy: electricity-grid data through plugins, stored, fused and served to MLX."""

from energy_core.errors import EnergyError
from energy_core.hookspecs import hookimpl
from energy_core.http import CacheMode, HttpClient, HttpResponse, RateBudget, RetryPolicy
from energy_core.interfaces import FetchRequest, Normalizer, RawBatch, Sink, SinkStats, Source, SourceContext, Window
from energy_core.runner import RunConfig, RunReport, run
from energy_core.schema import ARROW_SCHEMA, KEY, POLARS_SCHEMA, validate_observations
from energy_core.simulator import SimRequest, SimResponse, Simulator
from energy_core.store import ParquetStore

__all__ = [
    "ARROW_SCHEMA",
    "KEY",
    "POLARS_SCHEMA",
    "CacheMode",
    "EnergyError",
    "FetchRequest",
    "HttpClient",
    "HttpResponse",
    "Normalizer",
    "ParquetStore",
    "RateBudget",
    "RawBatch",
    "RetryPolicy",
    "RunConfig",
    "RunReport",
    "SimRequest",
    "SimResponse",
    "Simulator",
    "Sink",
    "SinkStats",
    "Source",
    "SourceContext",
    "Window",
    "hookimpl",
    "run",
    "validate_observations",
]
