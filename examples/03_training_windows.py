"""Training windows and the live context from the feature store, as MLX arrays.

Usage: python examples/03_training_windows.py [HOME]   (after 01_run_pipeline.py)
"""

from _home import home

from energy_core.features import FeatureStore

store = FeatureStore(home())
# One week of context, a new window every day, 24 hours to predict after each.
batches = store.get_training_sequences("PACW", seq_len=168, stride=24, split="train", batch_size=8)
first = next(batches)
print(f"{1 + sum(1 for _ in batches)} batches; x {first.x.shape} (batch, hours, features), "
      f"mask {first.mask.shape}, target {first.target.shape}")
print("observed share of the first batch:", round(float(first.mask.mean()), 3))

context = store.get_real_time_context("PACW", lookback_hours=168)
print(f"live context: {context.x.shape}, last hour {context.timestamps[-1]} UTC, "
      f"{len(context.features)} features, e.g. {context.features[:3]}")
