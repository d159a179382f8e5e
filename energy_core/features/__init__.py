"""Fusion onto an hourly grid, the LanceDB feature store, and serving windows as MLX arrays."""

from energy_core.features.entities import Entity, Selector, default_entity
from energy_core.features.serving import Batch, Context
from energy_core.features.store import BuildInfo, FeatureStore, Splits

__all__ = ["Batch", "BuildInfo", "Context", "Entity", "FeatureStore", "Selector", "Splits", "default_entity"]
