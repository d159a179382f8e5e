"""Open-Meteo weather source for energy."""

from energy_weather.normalize import WeatherNormalizer
from energy_weather.simulator import WeatherSimulator
from energy_weather.source import WeatherSource

__all__ = ["WeatherNormalizer", "WeatherSimulator", "WeatherSource"]
