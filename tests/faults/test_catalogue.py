"""The fault suite covers the whole catalogue (``docs/faults.md``): every case in its tables has at
least one test marked ``@pytest.mark.fault(n)``, and no test names a case the catalogue lacks."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.processes import ROOT

CATALOGUE = ROOT / "docs" / "faults.md"


def catalogued_cases() -> set[int]:
    """The numbers in the first column of the catalogue's tables (rows that start ``| n |``)."""
    return {int(n) for n in re.findall(r"^\| (\d+) \|", CATALOGUE.read_text(), flags=re.MULTILINE)}


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


def test_the_catalogue_numbers_its_cases_from_one_without_gaps():
    cases = catalogued_cases()
    assert cases == set(range(1, len(cases) + 1)), sorted(cases)


def test_every_case_of_the_catalogue_has_a_test():
    assert catalogued_cases() - marked_cases() == set()
    assert marked_cases() <= catalogued_cases()
