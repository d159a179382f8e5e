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

An experiment tracker is a :class:`Tracker` (``register_trackers``): it receives a
:class:`TrainingRun` (configuration, :class:`DataVersion`, :class:`CodeVersion`), then
:class:`StepMetrics`, :class:`EpochMetrics`, :class:`Evaluation` s (of :class:`Score` s),
:class:`ModelFiles` and a :class:`RunOutcome`.

An alerter is an :class:`Alerter` (``register_alerters``): made from an :class:`AlertContext`, it is sent
an :class:`AlertUpdate` at every ``energy monitor`` check, holding the :class:`Alert` s it has not been told
of (an incident fired or resolved, :class:`AlertStatus`) and every :class:`CheckResult` (of a
:class:`CheckKind`); it raises :class:`AlertDeliveryError` when they did not arrive. An orchestration
plugin (``energy-prefect``) runs the scheduled jobs: :func:`ingest_source`, :func:`check_quality`,
:func:`build_features`, :func:`train_model`, :func:`issue_forecast` and :func:`monitor` (held to
:class:`MonitorSettings` and its :class:`Objective` s); a job that waited too long for a store's lock
raises :class:`StoreBusyError`, having changed nothing.
"""

import importlib
from typing import TYPE_CHECKING

from energy_core.errors import (
    AuthError,
    CacheMissError,
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
    WouldFetchError,
)
from energy_core.home import Home
from energy_core.hookspecs import hookimpl
from energy_core.plugin.alerting import (
    Alert,
    AlertContext,
    AlertDeliveryError,
    Alerter,
    AlertStatus,
    AlertUpdate,
    CheckKind,
    CheckResult,
)
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
from energy_core.plugin.tracking import (
    CodeVersion,
    DataVersion,
    EpochMetrics,
    Evaluation,
    IngestRun,
    ModelFiles,
    RunOutcome,
    RunPhase,
    Score,
    StepMetrics,
    Tracker,
    TrainingRun,
    TrainingStatus,
)
from energy_core.plugin.windows import calendar_windows, month_windows, parse_utc

if TYPE_CHECKING:
    from energy_core.ops.jobs import (
        build_features,
        built_entities,
        check_quality,
        ingest_source,
        issue_forecast,
        monitor,
        train_model,
        trained_entities,
    )
    from energy_core.ops.locks import StoreBusyError
    from energy_core.ops.monitor.settings import MonitorSettings, Objective
    from energy_core.storage.flags import FLAG_SCHEMA, flag_detail
    from energy_core.storage.schema import ARROW_SCHEMA, COLUMNS, KEY, POLARS_SCHEMA, validate_observations

_STORAGE = {
    "ARROW_SCHEMA": "energy_core.storage.schema",
    "COLUMNS": "energy_core.storage.schema",
    "KEY": "energy_core.storage.schema",
    "POLARS_SCHEMA": "energy_core.storage.schema",
    "validate_observations": "energy_core.storage.schema",
    "FLAG_SCHEMA": "energy_core.storage.flags",
    "flag_detail": "energy_core.storage.flags",
}
"""Names that load on first use: they bring polars and pyarrow, which loading a plugin does without."""
_JOBS = {
    **dict.fromkeys(("build_features", "built_entities", "check_quality", "ingest_source", "issue_forecast", "monitor",
                     "train_model", "trained_entities"), "energy_core.ops.jobs"),
    "StoreBusyError": "energy_core.ops.locks",
    "MonitorSettings": "energy_core.ops.monitor.settings",
    "Objective": "energy_core.ops.monitor.settings",
}
"""The scheduled jobs and what they take, loaded on first use like the names above."""

__all__ = [
    "ARROW_SCHEMA",
    "COLUMNS",
    "FLAG_SCHEMA",
    "KEY",
    "POLARS_SCHEMA",
    "Alert",
    "AlertContext",
    "AlertDeliveryError",
    "AlertStatus",
    "AlertUpdate",
    "Alerter",
    "AuthError",
    "Budget",
    "CacheMissError",
    "CacheMode",
    "CheckKind",
    "CheckResult",
    "CodeVersion",
    "ConfigError",
    "DataVersion",
    "EnergyError",
    "EntitySpec",
    "EpochMetrics",
    "Evaluation",
    "FetchRequest",
    "Fetched",
    "Home",
    "Http",
    "HttpResponse",
    "IncompleteFetchError",
    "IngestRun",
    "InvalidRequestError",
    "ModelFiles",
    "MonitorSettings",
    "Normalizer",
    "Objective",
    "PanelStyle",
    "PayloadValidationError",
    "PlotPanel",
    "QualityCheck",
    "QuotaExhaustedError",
    "RateBudget",
    "RateLimitedError",
    "RawBatch",
    "RunOutcome",
    "RunPhase",
    "SchemaError",
    "Score",
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
    "StepMetrics",
    "StorageError",
    "StoreBusyError",
    "Throttle",
    "Tracker",
    "Traffic",
    "TrainingRun",
    "TrainingStatus",
    "TransientSourceError",
    "UnexpectedPayloadError",
    "Window",
    "WouldFetchError",
    "build_features",
    "built_entities",
    "calendar_windows",
    "check_quality",
    "flag_detail",
    "hookimpl",
    "ingest_source",
    "issue_forecast",
    "monitor",
    "month_windows",
    "parse_utc",
    "train_model",
    "trained_entities",
    "validate_observations",
]


def __getattr__(name: str) -> object:
    module = _STORAGE.get(name) or _JOBS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
