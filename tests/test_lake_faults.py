"""Faults of object storage, on a real S3 API (moto on loopback) behind a proxy that injects them: a bad minute
of 500s and 503 SlowDowns, and a writer killed after its data files are written and before its commit.
Nothing is half-visible, nothing committed is lost, and the re-run equals a clean run."""

from __future__ import annotations

import os
import signal
import subprocess

import polars as pl

from energy_core.home import LOCAL_HOME_VARIABLE, Home
from energy_core.storage.lake import Lake
from energy_core.storage.schema import KEY
from tests.processes import child_env, energy_command
from tests.s3 import error, every_nth, faulty

RUN = ("run", "--source", "eia", "--dataset", "eia.region", "--region", "PACW", "--region", "ERCO",
       "--start", "2024-01-25", "--end", "2024-02-05", "--simulate")


def energy_run(home: Home, local, endpoint: str) -> subprocess.Popen:
    env = child_env({"ENERGY_HOME": str(home), LOCAL_HOME_VARIABLE: str(local), "AWS_ENDPOINT_URL": endpoint})
    return subprocess.Popen(energy_command(*RUN), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stored(home: Home) -> pl.DataFrame:
    return Lake(home).scan().collect().drop("retrieved_at").sort(KEY)


def clean_run(tmp_path) -> pl.DataFrame:
    home = Home(tmp_path / "clean")
    process = subprocess.run(energy_command(*RUN, "--home", str(home.root)), env=child_env(), capture_output=True,
                             text=True, timeout=300)
    assert process.returncode == 0, process.stderr
    return stored(home)


def test_a_bad_minute_of_500s_and_slowdowns_is_retried_and_stores_everything(s3, s3_home, tmp_path):
    with faulty(s3) as proxy:
        proxy.rules += [every_nth(3, error(503, "SlowDown"), method="PUT"),
                        every_nth(5, error(500, "InternalError"), method="GET")]
        process = energy_run(s3_home, tmp_path / "local", proxy.endpoint)
        _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert proxy.injected >= 4, "the faults must have happened for the test to mean anything"
    assert stored(s3_home).equals(clean_run(tmp_path))


def test_a_writer_killed_between_its_data_files_and_its_commit_leaves_nothing_half_visible(s3, s3_home, tmp_path):
    victim: list[subprocess.Popen] = []
    data_files: list[str] = []

    def kill_at_commit(method: str, path: str):
        if method == "PUT" and ".parquet" in path:
            data_files.append(path)
        if method == "PUT" and "/lake/" in path and "/_delta_log/" in path and path.endswith(".json") and data_files:
            os.kill(victim[0].pid, signal.SIGKILL)  # like a power cut: the data files are written, the commit is not
            return error(503, "SlowDown")
        return None

    with faulty(s3) as proxy:
        proxy.rules.append(kill_at_commit)
        victim.append(energy_run(s3_home, tmp_path / "local", proxy.endpoint))
        victim[0].communicate(timeout=300)
    assert victim[0].returncode == -signal.SIGKILL, "the writer must die at its first commit"
    assert data_files, "it had written data files"
    assert stored(s3_home).height == 0, "no commit: nothing of the killed write is visible"

    again = energy_run(s3_home, tmp_path / "local", s3.endpoint)
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert stored(s3_home).equals(clean_run(tmp_path))
