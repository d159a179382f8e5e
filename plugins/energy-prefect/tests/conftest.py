"""The flows run against Prefect's test harness: a temporary local Prefect server on 127.0.0.1 with
a SQLite database, started once for the session, offline (no telemetry, nothing beyond loopback).

Prefect reads its settings from the environment when first imported, so they are set here, before
any test module imports the flows: a home of its own in a temporary folder, and none of this
machine's Prefect settings.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

for _variable in [v for v in os.environ if v.startswith("PREFECT_")]:
    del os.environ[_variable]
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="energy-prefect-tests-")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"  # the server would report usage to Prefect

@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """The harness's server, for every test that runs a flow."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
