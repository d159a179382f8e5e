"""Open-Meteo hourly variables: which we ask for, and which describe the preceding hour."""

from __future__ import annotations

DEFAULT_VARIABLES = ("temperature_2m", "relative_humidity_2m", "dew_point_2m", "wind_speed_10m", "wind_speed_100m",
                     "cloud_cover", "shortwave_radiation", "precipitation")
VARIABLES_VARIABLE = "ENERGY_WEATHER_VARIABLES"
"""Comma list replacing the defaults, e.g. ``temperature_2m,snowfall``."""

PRECEDING_HOUR = frozenset({
    "precipitation", "rain", "showers", "snowfall", "shortwave_radiation", "direct_radiation", "diffuse_radiation",
    "direct_normal_irradiance", "global_tilted_irradiance", "terrestrial_radiation", "sunshine_duration",
    "et0_fao_evapotranspiration",
})
"""Sums or means over the hour *before* the stamp (Open-Meteo docs): stored at the stamp minus one hour.
Everything else is instantaneous at the stamp, which is the start of the canonical interval."""

UNITS = {"°C": "degC", "°F": "degF", "%": "%", "km/h": "km/h", "m/s": "m/s", "mph": "mph", "kn": "kn",
         "W/m²": "W/m2", "mm": "mm", "inch": "inch", "cm": "cm", "hPa": "hPa", "s": "s", "wmo code": "wmo"}
