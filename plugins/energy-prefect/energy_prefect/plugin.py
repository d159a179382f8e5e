"""The Prefect settings ``energy config show`` lists (the API key masked).

Loading this module (every ``energy`` command does) does not import Prefect.
"""

from __future__ import annotations

from energy_core.api import Setting, hookimpl


@hookimpl
def register_settings() -> list[Setting]:
    return [Setting("PREFECT_API_URL", "The Prefect API the flows report to (a local `prefect server start`, or "
                                       "Prefect Cloud)"),
            Setting("PREFECT_API_KEY", "The Prefect Cloud API key", secret=True)]
