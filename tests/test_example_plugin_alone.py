"""A third-party source alone feeds the feature store: with only the example plugin enabled, the
README's demo stores its rows, builds the example's entity, and a model trains and is scored on it.

The plugin is installed the light way: its folder on ``PYTHONPATH`` and a dist-info with its entry
point, so the real ``energy`` command in a child process discovers it as it would after ``pip install``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.processes import ROOT, energy

PLUGIN = ROOT / "examples" / "energy-example-plugin"
DEMO = ("run", "--source", "example", "--simulate", "--region", "PACW", "--start", "2024-01-01", "--end",
        "2024-01-31")
TINY = ("--epochs", "1", "--seq-len", "72", "--horizon", "24", "--batch-size", "8", "--d-model", "16", "--heads",
        "2", "--layers", "1")
"""Seconds, not minutes: the README's month (744 hours) holds 21 training windows of 72 + 24 hours."""


def example_only(site: Path) -> dict[str, str]:
    info = site / "energy_example-0.1.0.dist-info"
    info.mkdir(parents=True)
    info.joinpath("METADATA").write_text("Metadata-Version: 2.1\nName: energy-example\nVersion: 0.1.0\n")
    info.joinpath("entry_points.txt").write_text("[energy]\nexample = energy_example.plugin\n")
    path = os.pathsep.join([str(site), str(PLUGIN), *filter(None, [os.environ.get("PYTHONPATH")])])
    return {"PYTHONPATH": path, "ENERGY_DISABLE_PLUGINS": "eia,caiso,weather"}


def test_the_readme_demo_builds_the_example_entity_and_a_model_trains_and_evaluates_on_it(tmp_path):
    env = example_only(tmp_path / "site")
    home = tmp_path / "home"

    ran = energy(*DEMO, home=home, env=env, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "1 of 1 windows ok" in ran.stdout and "PACW_carbon: build 1, 744 hours" in ran.stdout

    trained = energy("train", "--entity", "PACW_carbon", *TINY, home=home, env=env, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    scored = energy("evaluate", "--entity", "PACW_carbon", home=home, env=env, cwd=tmp_path)
    assert scored.returncode == 0, scored.stderr
    assert "PACW_carbon, test period" in scored.stdout and "same hour yesterday" in scored.stdout
    errors = json.loads(energy("evaluate", "--entity", "PACW_carbon", "--json", home=home, env=env,
                               cwd=tmp_path).stdout)
    assert {"model", "same hour yesterday"} <= errors.keys()
    assert all(score["mae"] > 0 for score in errors.values()), "the example's data repeat: nothing was scored"
