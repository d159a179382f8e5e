"""CAISO OASIS and Today's Outlook source for energy."""

from energy_caiso.normalize import CaisoNormalizer
from energy_caiso.simulator import CaisoSimulator
from energy_caiso.source import CaisoSource

__all__ = ["CaisoNormalizer", "CaisoSimulator", "CaisoSource"]
