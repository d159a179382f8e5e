"""Forecast the next 24 hours after the latest stored hour with the model from 04_train_tiny_model.py.

Usage: python examples/05_forecast.py [HOME]
"""

from _home import home

from energy_core.features import FeatureStore
from energy_core.ml import forecast

frame = forecast(FeatureStore(home()), home() / "models" / "PACW")
print(frame)
