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
