"""The ``wandb`` plugin: registered through the entry point ``wandb`` in group ``energy``.

The hooks import the tracker when they are called, and the tracker imports wandb when a run starts,
so loading the plugin (every ``energy`` command does) costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from energy_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from energy_core.api import Setting, Tracker


@hookimpl
def register_trackers() -> list[type[Tracker]]:
    from energy_wandb.tracker import WandbTracker

    return [WandbTracker]


@hookimpl
def register_settings() -> list[Setting]:
    from energy_core.api import Setting
    from energy_wandb.tracker import DEFAULT_PROJECT

    return [
        Setting("WANDB_API_KEY", "Weights & Biases API key (online mode)", secret=True),
        Setting("WANDB_PROJECT", f"W&B project of energy's training runs (default {DEFAULT_PROJECT})"),
        Setting("WANDB_ENTITY", "W&B team or user the runs belong to (default: the key's)"),
        Setting("WANDB_MODE", "online, offline (kept under WANDB_DIR for `wandb sync`) or disabled"),
        Setting("WANDB_DIR", "where W&B writes its run folders (default ./wandb)"),
        Setting("WANDB_BASE_URL", "a W&B server other than wandb.ai"),
    ]
