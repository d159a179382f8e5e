"""Train a tiny ring-attention forecaster (one process, a ring of one) and score it against the
seasonal-naive baselines on the test period.

Usage: python examples/04_train_tiny_model.py [HOME]   (after 01_run_pipeline.py)
"""

from _home import home

from energy_core.features import FeatureStore
from energy_core.ml import TrainConfig, evaluate, train

store = FeatureStore(home())
config = TrainConfig(entity="PACW", seq_len=168, stride=24, horizon=24, epochs=2, batch_size=8, d_model=16,
                     n_heads=2, n_layers=1, warmup_steps=2)
state = train(store, config, home() / "models" / "PACW", progress=print)
print("last epoch:", state.history[-1])
for name, scores in evaluate(store, home() / "models" / "PACW").items():
    print(f"{name:22} MAE {scores.mae:8.1f}  RMSE {scores.rmse:8.1f}  MAPE {scores.mape:6.2f}%")
