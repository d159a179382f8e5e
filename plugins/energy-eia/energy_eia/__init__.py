"""EIA API v2 (EIA-930 hourly grid monitor) source for energy."""

from energy_eia.normalize import EiaNormalizer
from energy_eia.simulator import EiaSimulator, Faults
from energy_eia.source import EiaSource

__all__ = ["EiaNormalizer", "EiaSimulator", "EiaSource", "Faults"]
