"""The README's Python example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(tmp_path, monkeypatch):
    [example] = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(example, str(README), "exec"), namespace)
    assert namespace["demand"].height == 31 * 24
    assert (tmp_path / "data" / "processed" / "eia.region").is_dir()
