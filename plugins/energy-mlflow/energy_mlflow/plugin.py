"""The ``mlflow`` plugin: registered through the entry point ``mlflow`` in group ``energy``.

The hooks import the tracker when they are called, and the tracker imports MLflow (three seconds)
when a run starts, so loading the plugin (every ``energy`` command does) costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from energy_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from energy_core.api import Setting, Tracker


@hookimpl
def register_trackers() -> list[type[Tracker]]:
    from energy_mlflow.tracker import MlflowTracker

    return [MlflowTracker]


@hookimpl
def register_settings() -> list[Setting]:
    from energy_core.api import Setting
    from energy_mlflow.tracker import DEFAULT_EXPERIMENT

    return [
        Setting("MLFLOW_TRACKING_URI", "the MLflow tracking server or store: http(s)://..., sqlite:///..., or "
                "file:/... with MLFLOW_ALLOW_FILE_STORE=true"),
        Setting("MLFLOW_EXPERIMENT_NAME", f"MLflow experiment of energy's runs (default {DEFAULT_EXPERIMENT})"),
        Setting("MLFLOW_TRACKING_USERNAME", "user name for a tracking server with basic authentication"),
        Setting("MLFLOW_TRACKING_PASSWORD", "password for a tracking server with basic authentication", secret=True),
        Setting("MLFLOW_TRACKING_TOKEN", "bearer token for a tracking server", secret=True),
    ]
