"""The MLX ring-attention forecaster: ring attention, model, training, evaluation and forecasting."""

from energy_core.ml.evaluate import evaluate, forecast
from energy_core.ml.model import Forecaster, ModelConfig
from energy_core.ml.ring import Ring, naive_attention, ring_attention, simulated_ring_attention
from energy_core.ml.train import TrainConfig, load_model, train

__all__ = ["Forecaster", "ModelConfig", "Ring", "TrainConfig", "evaluate", "forecast", "load_model",
           "naive_attention", "ring_attention", "simulated_ring_attention", "train"]
