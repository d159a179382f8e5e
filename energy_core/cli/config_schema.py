"""The shape of ``energy.toml``, checked with pydantic.

Kept apart from :mod:`energy_core.cli.settings` because loading pydantic and building these models
takes about a tenth of a second: only a command that reads a settings file pays for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt

from energy_core.plugin.interfaces import RateBudget


class BudgetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    requests: PositiveFloat
    per: PositiveFloat = 1.0
    burst: PositiveInt = 1

    def budget(self) -> RateBudget:
        return RateBudget(self.requests, self.per, self.burst)


class EnergyConfig(BaseModel):
    """The parsed file. Command tables are checked against the commands' flags when they are applied."""

    model_config = ConfigDict(extra="allow")
    home: str | None = None
    budgets: dict[str, BudgetSpec] = Field(default_factory=dict)
    entities: dict[str, dict[str, Any]] = Field(default_factory=dict)
    path: Path | None = Field(default=None, exclude=True)

    @property
    def commands(self) -> dict[str, Any]:
        return dict(self.model_extra or {})
