"""What a training run came from: the data version (one feature-store build at one LanceDB version, and
the ingest runs behind it) and the code version (packages, and the git commit of a checkout)."""

from __future__ import annotations

import hashlib
import logging
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path

import numpy as np

from energy_core.features import BuildInfo, FeatureStore
from energy_core.hookspecs import PROJECT_NAME
from energy_core.ingest.catalog import Catalog
from energy_core.plugin.tracking import CodeVersion, DataVersion, IngestRun

logger = logging.getLogger(__name__)

CORE = "energy-core"
GIT_TIMEOUT = 5.0


def digest(ts: np.ndarray, values: np.ndarray, mask: np.ndarray) -> str:
    """SHA-256 of an entity's hours, values and masks (a second per 10 million cells or so)."""
    hashed = hashlib.sha256()
    for array in (ts.astype("datetime64[us]"), values, mask):
        hashed.update(str((array.dtype, array.shape)).encode())
        hashed.update(np.ascontiguousarray(array).tobytes())
    return hashed.hexdigest()


def data_version(store: FeatureStore, info: BuildInfo, ts: np.ndarray, values: np.ndarray,
                 mask: np.ndarray) -> DataVersion:
    """The data version of ``info``'s build, whose arrays (read at its table version) are given."""
    return DataVersion(
        entity=info.entity, build=info.build, table_version=info.table_version, feature_store=_located(store.uri),
        built_at=info.built_at, target=info.target, features=tuple(info.features), splits=dict(info.splits),
        stats={name: (float(mean), float(std)) for name, (mean, std) in info.stats.items()}, rows=info.rows,
        changed_rows=info.changed_rows, first_ts=info.first_ts, last_ts=info.last_ts,
        ingest_runs=ingest_runs(store, info.runs), digest=digest(ts, values, mask))


def ingest_runs(store: FeatureStore, run_ids: list[str]) -> tuple[IngestRun, ...]:
    """The runs a build names, with what the catalog recorded of each (only their ids without one)."""
    known = {}
    if store.home.catalog.exists():
        catalog = Catalog(store.home)
        try:
            known = {run.run_id: run for run in catalog.runs()}
        finally:
            catalog.close()
    return tuple(IngestRun(run_id, run.command, str(run.status), run.finished_at, run.rows_stored)
                 if (run := known.get(run_id)) else IngestRun(run_id) for run_id in run_ids)


def _located(uri: str) -> str:
    """A local folder made absolute; a URI without any user or password it names."""
    if "://" not in uri:
        return str(Path(uri).resolve())
    return re.sub(r"://[^/@]*@", "://", uri)


def code_version() -> CodeVersion:
    """energy-core's version, every installed energy plugin's and MLX's, and the git commit energy-core
    runs from when it is a checkout (None when it is not, or git cannot tell)."""
    packages = {CORE: _version(CORE)}
    for entry_point in metadata.entry_points(group=PROJECT_NAME):
        if entry_point.dist is not None:
            packages.setdefault(entry_point.dist.name, entry_point.dist.version)
    packages["mlx"] = _version("mlx")
    commit, dirty = git_state(Path(__file__).resolve().parents[1])
    return CodeVersion(packages={k: v for k, v in sorted(packages.items()) if v}, git_commit=commit,
                       git_dirty=dirty, python=platform.python_version())


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return ""


def git_state(package: Path) -> tuple[str | None, bool | None]:
    """The commit of the checkout holding ``package`` (as a tracked folder) and whether its tracked files
    have changes; (None, None) where there is no such checkout, no git, or git fails."""
    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "-C", str(package), *args], capture_output=True, text=True,
                              timeout=GIT_TIMEOUT, check=False)

    try:
        tracked = git("ls-files", "--error-unmatch", "__init__.py")  # a venv inside another repo is not a checkout
        if tracked.returncode != 0:
            return None, None
        status = git("status", "--porcelain=v2", "--branch", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError) as exc:
        logger.debug("no git commit recorded: %s", exc)
        return None, None
    if status.returncode != 0:
        return None, None
    lines = status.stdout.splitlines()
    commit = next((line.split()[2] for line in lines if line.startswith("# branch.oid ")), None)
    if commit is None or commit == "(initial)":
        return None, None
    return commit, any(not line.startswith("#") for line in lines)
