"""The allocator setting the CLI makes at start-up: large buffers freed and taken again reuse the process's
memory instead of pages the kernel must fault in afresh. Each check runs in a process of its own, since
the setting lasts for the process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")

ROUNDS = """
import resource
from energy_core.allocator import keep_large_buffers

print(keep_large_buffers())
for _ in range(3):  # the thresholds glibc adjusts by itself have settled
    held = [b"x" * (1 << 20) for _ in range(4)]  # four bodies of a megabyte, as threads hold them
    del held
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    held = [b"x" * (1 << 20) for _ in range(4)]
    del held
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
"""


def run_rounds(**env: str) -> tuple[bool, float]:
    """Whether the setting was made, and the page faults of each round of four megabyte buffers."""
    clean = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES" and not k.startswith("MALLOC_")}
    done = subprocess.run([sys.executable, "-c", ROUNDS], env={**clean, **env}, capture_output=True, text=True,
                          check=True)
    made, faults = done.stdout.split()
    return made == "True", float(faults)


def test_freed_megabyte_buffers_are_reused_without_faulting_in_new_pages():
    made, faults = run_rounds()
    assert made
    assert faults < 50  # glibc's own thresholds hand the four megabytes back each round: about a thousand faults


@pytest.mark.parametrize("variable, value", [("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1048576"),
                                             ("MALLOC_TRIM_THRESHOLD_", "1048576")])
def test_a_user_tuning_malloc_through_the_environment_keeps_their_setting(variable, value):
    made, faults = run_rounds(**{variable: value})
    assert not made
    assert faults > 500  # their 1 MiB trim threshold gives the memory back each round, as they asked
