"""The fault suite covers the whole catalogue (``../shared/FAULTS.md``, 38 cases): every case has
at least one test marked ``@pytest.mark.fault(n)``."""

from __future__ import annotations

import ast
from pathlib import Path

CASES = set(range(1, 39))


def marked_cases() -> set[int]:
    found = set()
    for path in Path(__file__).parent.glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "fault"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                found.add(node.args[0].value)
    for path in Path(__file__).parent.glob("test_storage.py"):  # crash points are marked through a table
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "CRASH_POINTS":
                found |= set(ast.literal_eval(node.value).values())
    return found


def test_every_case_of_the_catalogue_has_a_test():
    assert CASES - marked_cases() == set()
    assert marked_cases() <= CASES
