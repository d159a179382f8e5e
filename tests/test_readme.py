"""The README's Python examples run as written, in order."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples_run_in_order(tmp_path, monkeypatch):
    examples = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for example in examples:
        exec(compile(example, str(README), "exec"), namespace)
    assert len(examples) == 2 and namespace["demand"].height == 31 * 24
    assert namespace["context"].x.shape[:2] == (1, 168)


def test_readme_energy_toml_is_accepted_by_every_command_it_names(tmp_path):
    from energy_core.cli import build_cli
    from energy_core.cli.settings import default_map, load
    from energy_core.plugin.manager import get_plugin_manager

    (example,) = re.findall(r"```toml\n(.*?)```", README.read_text(), re.S)
    (tmp_path / "energy.toml").write_text(example)
    cli = build_cli(get_plugin_manager())
    config = load(tmp_path / "energy.toml")
    defaults = default_map(config, cli)
    assert defaults["run"]["regions"] == ["PACW", "CISO"] and defaults["features"]["build"]["val_start"]
    assert config.budgets["eia"].budget().requests == 9 and "PACW_NO_WEATHER" in config.entities
