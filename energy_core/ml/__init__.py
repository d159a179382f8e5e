"""The MLX ring-attention forecaster: ring attention, model, training (tracked: :class:`RunLog`, and
replayed: :class:`PinnedStore`), evaluation and forecasting.

Importing this package first loads OpenBLAS for MLX where there is one (see :mod:`energy_core.blas`):
the modules below import ``mlx.core``, which binds its BLAS once, on that first import.
"""

from energy_core.blas import load_openblas

load_openblas()

from energy_core.ml.evaluate import evaluate, forecast
from energy_core.ml.model import Forecaster, ModelConfig
from energy_core.ml.replay import PinnedStore, replay_of
from energy_core.ml.ring import Ring, naive_attention, ring_attention, simulated_ring_attention
from energy_core.ml.tracking import RunLog, tracker_classes
from energy_core.ml.train import TrainConfig, load_model, train

__all__ = ["Forecaster", "ModelConfig", "PinnedStore", "Ring", "RunLog", "TrainConfig", "evaluate", "forecast",
           "load_model", "naive_attention", "replay_of", "ring_attention", "simulated_ring_attention",
           "tracker_classes", "train"]
