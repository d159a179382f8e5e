"""Weather points per balancing authority: the cities where the load is, weighted by their share.

Weights are rough shares of each BA's load (population of the metro areas served), normalised to
sum to 1 per BA. Users replace or extend the table with a TOML file (``ENERGY_WEATHER_POINTS``)::

    [[PACW]]
    id = "PACW.salem"
    latitude = 44.94
    longitude = -123.03
    weight = 0.2

A BA named in the file replaces the built-in list for that BA; a new BA extends the table.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from energy_core.api import ConfigError

if TYPE_CHECKING:
    import polars as pl

POINTS_VARIABLE = "ENERGY_WEATHER_POINTS"


@dataclass(frozen=True)
class Point:
    id: str
    latitude: float
    longitude: float
    weight: float


def _points(ba: str, *cities: tuple[str, float, float, float]) -> tuple[Point, ...]:
    total = sum(c[3] for c in cities)
    return tuple(Point(f"{ba}.{name}", lat, lon, round(w / total, 4)) for name, lat, lon, w in cities)


BUILTIN: dict[str, tuple[Point, ...]] = {
    "CISO": _points("CISO", ("los_angeles", 34.05, -118.24, 10.0), ("san_francisco", 37.77, -122.42, 4.7),
                    ("san_diego", 32.72, -117.16, 3.3), ("sacramento", 38.58, -121.49, 2.4),
                    ("fresno", 36.74, -119.79, 1.1)),
    "ERCO": _points("ERCO", ("houston", 29.76, -95.37, 7.3), ("dallas", 32.78, -96.80, 7.9),
                    ("san_antonio", 29.42, -98.49, 2.6), ("austin", 30.27, -97.74, 2.4),
                    ("midland", 31.99, -102.08, 0.8)),
    "PJM": _points("PJM", ("philadelphia", 39.95, -75.17, 6.2), ("washington", 38.91, -77.04, 6.3),
                   ("chicago", 41.88, -87.63, 5.0), ("baltimore", 39.29, -76.61, 2.8),
                   ("pittsburgh", 40.44, -79.99, 2.3), ("columbus", 39.96, -83.00, 2.1)),
    "MISO": _points("MISO", ("minneapolis", 44.98, -93.27, 3.7), ("detroit", 42.33, -83.05, 4.3),
                    ("st_louis", 38.63, -90.20, 2.8), ("indianapolis", 39.77, -86.16, 2.1),
                    ("new_orleans", 29.95, -90.07, 1.3), ("milwaukee", 43.04, -87.91, 1.6)),
    "NYIS": _points("NYIS", ("new_york", 40.71, -74.01, 19.0), ("buffalo", 42.89, -78.88, 1.1),
                    ("albany", 42.65, -73.76, 0.9), ("rochester", 43.16, -77.61, 1.1)),
    "ISNE": _points("ISNE", ("boston", 42.36, -71.06, 4.9), ("hartford", 41.76, -72.67, 1.2),
                    ("providence", 41.82, -71.41, 1.6), ("portland_me", 43.66, -70.26, 0.6)),
    "PACW": _points("PACW", ("portland", 45.52, -122.68, 2.5), ("medford", 42.33, -122.87, 0.2),
                    ("yakima", 46.60, -120.51, 0.25), ("eugene", 44.05, -123.09, 0.38)),
    "PACE": _points("PACE", ("salt_lake_city", 40.76, -111.89, 2.6), ("casper", 42.85, -106.33, 0.1),
                    ("idaho_falls", 43.49, -112.03, 0.15)),
    "BPAT": _points("BPAT", ("seattle", 47.61, -122.33, 4.0), ("spokane", 47.66, -117.43, 0.6),
                    ("boise", 43.62, -116.20, 0.8)),
    "SWPP": _points("SWPP", ("oklahoma_city", 35.47, -97.52, 1.4), ("kansas_city", 39.10, -94.58, 2.2),
                    ("omaha", 41.26, -95.93, 1.0), ("wichita", 37.69, -97.34, 0.6), ("tulsa", 36.15, -95.99, 1.0)),
    "SOCO": _points("SOCO", ("atlanta", 33.75, -84.39, 6.1), ("birmingham", 33.52, -86.80, 1.1),
                    ("mobile", 30.69, -88.04, 0.4)),
    "TVA": _points("TVA", ("nashville", 36.16, -86.78, 2.0), ("memphis", 35.15, -90.05, 1.3),
                   ("knoxville", 35.96, -83.92, 0.9), ("chattanooga", 35.05, -85.31, 0.6)),
    "FPL": _points("FPL", ("miami", 25.76, -80.19, 6.1), ("west_palm_beach", 26.72, -80.05, 1.5),
                   ("fort_myers", 26.64, -81.87, 0.8)),
    "DUK": _points("DUK", ("charlotte", 35.23, -80.84, 2.7), ("greensboro", 36.07, -79.79, 0.8),
                   ("greenville_sc", 34.85, -82.40, 0.9)),
    "AZPS": _points("AZPS", ("phoenix", 33.45, -112.07, 4.9), ("flagstaff", 35.20, -111.65, 0.1),
                    ("yuma", 32.69, -114.63, 0.2)),
}


def load_points(environ: dict[str, str] | None = None) -> dict[str, tuple[Point, ...]]:
    """The built-in table, replaced or extended per BA by the user's TOML file, if one is set."""
    table = dict(BUILTIN)
    path = (environ or {}).get(POINTS_VARIABLE)
    if not path:
        return table
    try:
        user = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{POINTS_VARIABLE}={path}: cannot read weather points: {exc}") from None
    for ba, entries in user.items():
        try:
            points = tuple(Point(str(e["id"]), float(e["latitude"]), float(e["longitude"]), float(e["weight"]))
                           for e in entries)
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{POINTS_VARIABLE}: BA {ba!r} needs id, latitude, longitude and weight for every "
                              f"point ({exc})") from None
        bad = [p.id for p in points if not (-90 <= p.latitude <= 90 and -180 <= p.longitude <= 180 and p.weight > 0)]
        if not points or bad:
            raise ConfigError(f"{POINTS_VARIABLE}: BA {ba!r} has no points or invalid ones: {bad}")
        total = sum(p.weight for p in points)
        table[ba.upper()] = tuple(Point(p.id, p.latitude, p.longitude, p.weight / total) for p in points)
    return table


def at_points(table: pl.DataFrame, points: Mapping[str, tuple[Point, ...]]) -> pl.DataFrame:
    """``table``'s rows keyed by ``region`` (a BA, whose value each of its points gets, or a point id) as
    rows at each weather point's ``latitude`` and ``longitude``: what the simulator's table mode replays,
    so that a BA's weighted mean is the recorded value."""
    import polars as pl  # the plugin loads with every command: polars only where a table is made

    places = pl.DataFrame([{"region": key, "latitude": p.latitude, "longitude": p.longitude}
                           for ba, group in points.items() for p in group for key in (ba, p.id)],
                          schema={"region": pl.String, "latitude": pl.Float64, "longitude": pl.Float64})
    return table.join(places, on="region").drop("region")
