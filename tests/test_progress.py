"""What a user watching ``energy run`` sees: a live table on a terminal with log lines above it, a plain
status line every few seconds elsewhere, and ``--json`` for scripts."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import time

from energy_core.cli.progress import RunProgress
from energy_core.ingest.client import HttpStats
from energy_core.ingest.planning import Estimate
from energy_eia.simulator import EiaSimulator
from tests.processes import child_env, energy, energy_command

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_without_a_terminal_one_plain_line_every_few_seconds_with_rows_requests_and_time_left():
    stream = io.StringIO()
    stats = HttpStats(requests=12, retries=1, cache_hits=3, throttled=1)
    with RunProgress(stream, live=False, every_s=0.05) as progress:
        progress.plan({"eia": Estimate(windows=8, calls=40, seconds=30.0, stats=stats)})
        time.sleep(0.2)
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 2 and all(line.startswith("progress: eia: 0/8 windows, 0 rows, 12 requests") for line in lines)
    assert "3 cached, 1 retried, 1 throttled" in lines[-1] and lines[-1].endswith("s left")


def test_on_a_terminal_a_live_table_advances_page_by_page():
    stream = io.StringIO()
    stats = HttpStats()
    with RunProgress(stream, live=True) as progress:
        progress.plan({"eia": Estimate(windows=2, calls=10, seconds=2.0, stats=stats)})
        stats.requests = 7
        time.sleep(0.6)  # the table redraws four times a second
    text = ANSI.sub("", stream.getvalue())
    assert "eia" in text and "0/2 windows" in text and "7 requests" in text


def test_log_lines_print_above_the_live_table_not_into_it(tmp_path):
    primary, replica = os.openpty()
    try:
        with EiaSimulator(respondents=("PACW",)) as sim:
            process = subprocess.run(
                [*energy_command("-v", "run", "--source", "eia", "--region", "PACW", "--start", "2024-01-01", "--end",
                                 "2024-03-31", "--home", str(tmp_path), "--no-features")],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=replica, env=child_env(sim.env()),
                timeout=120)
        os.close(replica)
        replica = -1
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the terminal closed once the process and our copy of it are gone
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(primary)
        if replica >= 0:
            os.close(replica)
    assert process.returncode == 0
    screen = b"".join(chunks).decode(errors="replace")
    assert "windows" in screen, "the live table was drawn"
    logs = [m.start() for m in re.finditer("INFO ", screen)]
    assert logs, "the -v log lines reach the terminal"
    for start in logs:  # what precedes a log line on its terminal line, after a newline, return or erase-line
        before = re.split(r"\n|\r|\x1b\[2K", screen[:start])[-1]
        assert not ANSI.sub("", before), f"a log line ran into the table: {before!r}"


def test_json_prints_the_run_report_on_stdout(tmp_path):
    with EiaSimulator(respondents=("PACW",)) as sim:
        result = energy("run", "--source", "eia", "--region", "PACW", "--dataset", "eia.region", "--start",
                        "2024-01-01", "--end", "2024-01-03", "--home", str(tmp_path), "--json", env=sim.env())
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [w["status"] for w in report["windows"]] == ["ok"] and report["requests"]["eia"]["requests"] == 1
    assert "features:" in result.stderr, "feature builds report on stderr, keeping stdout JSON"
