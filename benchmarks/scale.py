"""Scale benchmark: EIA-930 history from July 2015 for 1, 8 and every one of the simulator's balancing
authorities, over 1, 3 and 10 years and the whole history, ingested through ``energy_core.run`` at an
unlimited request budget, then every entity's feature build, ``energy status``, ``energy quality`` and
a SQL aggregate over everything.

The pages the planner requests are rendered once by the EIA simulator's own page builder into
``benchmarks/.cache/scale/`` (one file per window, its pages back to back; sizes share their windows;
delete the folder after changing the simulator's data) and served by a small loopback server in its own
process that answers each request's path and query with its pre-rendered body (``sendfile``), so serving
costs next to nothing and the run, not the simulator, is the bottleneck.

Every step runs in a fresh process; its peak RSS and CPU time are that process's alone (``os.wait4``):

  decode    the limit: read the size's bodies and ``orjson.loads`` them, nothing else, one process
  pipeline  what ``ingest_eia.py`` measures against that limit: the same bodies read from the files, then
            parse, validate, normalize and Delta Lake as the run does them (its store thread, 16 windows
            at a time), without HTTP and the raw cache
  ingest    ``energy_core.run`` (HTTP, raw cache, parse, validate, normalize, Delta Lake) at an unlimited
            budget; the clock starts after its imports and the plugins are loaded, as in ``ingest_eia.py``
  features  ``energy features build`` (every entity), ``energy status``, ``energy quality`` and
            ``energy query`` (one aggregate over all observations), each timed as the whole command

    uv run python benchmarks/scale.py --json scale.json   # every size (~25 min); renders ~13 GB of pages first
    uv run python benchmarks/scale.py --smoke    # 1 BA, 2 months, in a temporary folder; the tests run it
    uv run python benchmarks/scale.py --only 1y-8 --only 3y-8   # some sizes
    uv run python benchmarks/scale.py --only 1y-all --repeat 3  # limit, pipeline and ingest thrice, interleaved
    uv run python benchmarks/scale.py --report scale.json       # the tables of an earlier run
    uv run python benchmarks/scale.py --only 1y-8 --month-threads 1 4 --pairs 25  # a setting, compared

``--month-threads A B`` compares two settings of the lake's ``MONTH_THREADS`` (months of a commit merged and
written at once): in one process, after a first run that imports everything, the size is ingested ``--pairs``
times in each setting, alternating (A then B, then B then A, ...), so that the machine's drift touches both;
the median of each pair's time ratio B / A is what it reports. On this shared machine whole runs of one
setting vary by a fifth from minute to minute, and two settings' medians only show a difference above that.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

CACHE = Path(__file__).parent / ".cache" / "scale"
HISTORY_START = datetime(2015, 7, 1, tzinfo=UTC)
"""EIA-930's first hourly data."""
KEY = "BENCH-KEY"
ONE = ("PJM",)
EIGHT = ("CISO", "ERCO", "ISNE", "MISO", "NYIS", "PACW", "PJM", "SWPP")
SQL = ("SELECT dataset, region, series, count(*) AS hours, avg(value) AS mean, min(value) AS low, "
       "max(value) AS high, min(ts) AS first, max(ts) AS last FROM observations GROUP BY ALL ORDER BY ALL")
COMMANDS = {
    "features": ["features", "build"],
    "status": ["status"],
    "quality": ["quality"],
    "query": ["query", "--format", "csv", SQL],
}


def balancing_authorities(name: str) -> tuple[str, ...]:
    from energy_eia.synthetic import BALANCING_AUTHORITIES

    return {"1": ONE, "8": EIGHT, "all": BALANCING_AUTHORITIES}[name]


def months_before(end: datetime, months: int) -> datetime:
    index = end.year * 12 + end.month - 1 - months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def history_end(now: datetime | None = None) -> datetime:
    """The first hour of the current UTC month: the history is every complete month."""
    now = now or datetime.now(UTC)
    return datetime(now.year, now.month, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Size:
    name: str
    bas: str
    """Which set: "1", "8" or "all"."""
    start: datetime
    end: datetime

    @property
    def years(self) -> float:
        return (self.end - self.start).days / 365.25

    def record(self) -> dict:
        return {"size": self.name, "bas": self.bas, "start": f"{self.start:%Y-%m-%d}", "end": f"{self.end:%Y-%m-%d}",
                "years": round(self.years, 2)}


def sizes(end: datetime) -> list[Size]:
    grid = [Size(f"{years}y-{bas}", bas, months_before(end, 12 * years), end)
            for bas in ("1", "8", "all") for years in (1, 3, 10)]
    return [*grid, Size("history-all", "all", HISTORY_START, end)]


def smoke_size(end: datetime) -> Size:
    return Size("smoke", "1", months_before(end, 2), end)


# -- pages --------------------------------------------------------------------------------------------


def canonical(path: str, query: list[tuple[str, str]]) -> str:
    """A request's identity: its path and its parameters less the key, in a fixed order."""
    return f"{path}?{urlencode(sorted((k, v) for k, v in query if k != 'api_key'))}"


def windows_of(size: Size) -> list:
    from energy_core.plugin.interfaces import FetchRequest
    from energy_eia.codes import ROUTES
    from energy_eia.source import EiaSource

    request = FetchRequest(size.start, size.end, balancing_authorities(size.bas), tuple(ROUTES))
    return EiaSource.plan(EiaSource.__new__(EiaSource), request)


def window_file(directory: Path, bas: str, window) -> Path:
    """Where a window's pages go: named by its dataset, range and respondents (a digest of them, so a
    changed list of BAs renders new files instead of reusing stale ones)."""
    group = hashlib.sha1(",".join(window.regions).encode()).hexdigest()[:10] if window.regions else "all"
    dataset = window.dataset.replace(".", "-")
    return directory / bas / f"{dataset}_{window.start:%Y%m%d%H}_{window.end:%Y%m%d%H}_{group}"


_SIMULATOR = None
"""One simulator per rendering process."""


def render(job: tuple[Path, dict]) -> int:
    """Render one window's pages into ``<file>.bin`` and index them in ``<file>.json`` (written last)."""
    import orjson

    from energy_core.plugin.interfaces import Window
    from energy_core.plugin.simulator import SimRequest
    from energy_eia.codes import ROUTES
    from energy_eia.simulator import EiaSimulator
    from energy_eia.source import PAGE_LENGTH, page_params

    global _SIMULATOR
    target, spec = job
    window = Window(**{**spec, "start": datetime.fromisoformat(spec["start"]),
                       "end": datetime.fromisoformat(spec["end"]), "regions": tuple(spec["regions"])})
    simulator = _SIMULATOR = _SIMULATOR or EiaSimulator(api_key=KEY, numeric_values=0.4)  # as ingest_eia.py
    route = ROUTES[window.dataset]
    path = f"/v2/{route.path}/data/"
    index, offset, total, position = [], 0, None, 0
    with open(target.with_suffix(".bin"), "wb") as out:
        while total is None or offset < total:
            query = [*page_params(route, window, offset), ("api_key", KEY)]
            response = simulator.handle(SimRequest(path, query, {}))
            if response.status != 200:
                raise RuntimeError(f"simulator answered {response.status}: {response.body[:200]!r}")
            answer = orjson.loads(response.body)["response"]
            total = int(answer["total"]) if total is None else total
            out.write(response.body)
            index.append([canonical(path, query), position, len(response.body), len(answer["data"])])
            position += len(response.body)
            offset += PAGE_LENGTH
    target.with_suffix(".json").write_text(json.dumps(index))
    return len(index)


def generate(directory: Path, wanted: list[Size], processes: int) -> None:
    """Render every window the sizes need that is not rendered yet (sizes share their windows)."""
    from multiprocessing import get_context

    jobs, seen = [], set()
    for size in wanted:
        for window in windows_of(size):
            target = window_file(directory, size.bas, window)
            if target in seen or target.with_suffix(".json").exists():
                continue
            seen.add(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            jobs.append((target, {"source": window.source, "dataset": window.dataset, "start": window.start.isoformat(),
                                  "end": window.end.isoformat(), "regions": list(window.regions)}))
    if not jobs:
        return
    started = time.perf_counter()
    print(f"rendering {len(jobs)} windows into {directory} ...", file=sys.stderr, flush=True)
    if processes > 1 and len(jobs) > 4:
        with get_context("spawn").Pool(processes) as pool:
            pages = sum(pool.imap_unordered(render, jobs, chunksize=4))
    else:
        pages = sum(map(render, jobs))
    print(f"rendered {pages} pages in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)


def pages_of(directory: Path, size: Size) -> list[tuple[Path, int, int, int]]:
    """(file, offset, length, rows) of every page the size's run requests, in plan order."""
    found = []
    for window in windows_of(size):
        target = window_file(directory, size.bas, window)
        for _, offset, length, rows in json.loads(target.with_suffix(".json").read_text()):
            found.append((target.with_suffix(".bin"), offset, length, rows))
    return found


# -- the page server ----------------------------------------------------------------------------------


def serve(directory: Path) -> None:
    """Answer each request with its pre-rendered body; print the port, then serve until killed.
    ``GET /stats`` answers what was served and this process's CPU time."""
    table: dict[str, tuple[str, int, int]] = {}
    for index in directory.glob("*/*.json"):
        data = str(index.with_suffix(".bin"))
        for key, offset, length, _ in json.loads(index.read_text()):
            table[key] = (data, offset, length)
    stats = {"requests": 0, "misses": 0, "bytes": 0}
    lock = threading.Lock()

    def answer(conn: socket.socket, status: str, body: bytes) -> None:
        conn.sendall(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                     .encode() + body)

    def connection(conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = conn.makefile("rb")
        try:
            while True:
                line = reader.readline()
                if not line:
                    return
                while reader.readline() not in (b"\r\n", b"\n", b""):
                    pass  # headers: nothing in them changes the answer
                target = line.split()[1].decode()
                parts = urlsplit(target)
                if parts.path == "/stats":
                    usage = resource.getrusage(resource.RUSAGE_SELF)
                    answer(conn, "200 OK", json.dumps({**stats, "cpu_s": usage.ru_utime + usage.ru_stime}).encode())
                    continue
                found = table.get(canonical(parts.path, parse_qsl(parts.query, keep_blank_values=True)))
                if found is None:
                    with lock:
                        stats["misses"] += 1
                    answer(conn, "404 Not Found", b'{"error": "not rendered", "code": 404}')
                    continue
                data, offset, length = found
                conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
                             .encode())
                with open(data, "rb") as fh:
                    sent = 0
                    while sent < length:
                        sent += os.sendfile(conn.fileno(), fh.fileno(), offset + sent, length - sent)
                with lock:
                    stats["requests"] += 1
                    stats["bytes"] += length
        except (ConnectionError, OSError):
            return
        finally:
            reader.close()
            conn.close()

    listener = socket.create_server(("127.0.0.1", 0), backlog=128)
    print(listener.getsockname()[1], flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=connection, args=(conn,), daemon=True).start()


class PageServer:
    def __init__(self, directory: Path) -> None:
        self.process = subprocess.Popen([sys.executable, __file__, "--mode", "serve", "--data", str(directory)],
                                        stdout=subprocess.PIPE, text=True)
        self.url = f"http://127.0.0.1:{int(self.process.stdout.readline())}"

    def stats(self) -> dict:
        import httpx

        return httpx.get(f"{self.url}/stats", timeout=10).json()

    def close(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(10)


# -- the measured steps (each in its own process) -------------------------------------------------------


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_decode(directory: Path, size: Size, started: list[float]) -> dict:
    import orjson

    found = pages_of(directory, size)
    started += [time.perf_counter(), _cpu()]
    rows = 0
    for data, offset, length, _ in found:
        with open(data, "rb") as fh:
            fh.seek(offset)
            rows += len(orjson.loads(fh.read(length))["response"]["data"])
    return {"rows": rows, "pages": len(found), "bytes": sum(p[2] for p in found)}


def run_pipeline(directory: Path, size: Size, home: Path, started: list[float]) -> dict:
    import gc

    from ingest_eia import import_pipeline, store_windows

    from energy_core.allocator import keep_large_buffers

    import_pipeline()
    gc.freeze()
    keep_large_buffers()
    started += [time.perf_counter(), _cpu()]
    windows = [(window, partial(_read_pages, window_file(directory, size.bas, window))) for window in windows_of(size)]
    return {"rows": store_windows(windows, home)}


def _read_pages(target: Path) -> list[bytes]:
    with open(target.with_suffix(".bin"), "rb") as fh:
        data = fh.read()
    index = json.loads(target.with_suffix(".json").read_text())
    return [data[offset:offset + length] for _, offset, length, _ in index]


def run_ingest(size: Size, home: Path, url: str, started: list[float]) -> dict:
    import gc

    from ingest_eia import import_pipeline

    from energy_core import RunConfig, run
    from energy_core.allocator import keep_large_buffers
    from energy_core.api import RateBudget
    from energy_core.plugin.manager import get_plugin_manager
    from energy_core.plugin.registry import Registry
    from energy_eia.api import KEY_VARIABLE, URL_VARIABLE

    import_pipeline()  # what the run imports when it first stores, as the pipeline's clock leaves out
    registry = Registry(get_plugin_manager())  # as `energy` loads the plugins before running a command
    regions = balancing_authorities(size.bas)
    gc.freeze()  # as the CLI does after its imports
    keep_large_buffers()
    started += [time.perf_counter(), _cpu()]
    report = run(RunConfig(sources=("eia",), regions=regions, start=size.start, end=size.end, home=home,
                           env={URL_VARIABLE: f"{url}/v2", KEY_VARIABLE: KEY},
                           budgets={"eia": RateBudget(1e9, burst=1e9)}), registry=registry)
    finished = time.perf_counter()
    stats = report.requests.get("eia", {})
    return {"rows": report.rows_stored, "windows": len(report.windows), "failed": [w.error for w in report.failed][:3],
            "requests": stats, "run_s": (report.finished_at - report.started_at).total_seconds(),
            "gaps_and_report_s": finished - started[0] - (report.finished_at - report.started_at).total_seconds()}


def run_pairs(size: Size, home: Path, url: str, pairs: int, settings: tuple[int, int]) -> dict:
    """Ingest ``size`` ``pairs`` times with each of two values of the lake's ``MONTH_THREADS``, alternating,
    after one run that imports everything; each run's seconds, CPU seconds and rows, by setting."""
    import energy_core.storage.lake as lake

    run_ingest(size, home, url, [])
    runs: dict[int, list[dict]] = {setting: [] for setting in settings}
    for pair in range(pairs):
        for setting in settings if pair % 2 == 0 else settings[::-1]:
            lake.MONTH_THREADS = setting
            shutil.rmtree(home, ignore_errors=True)
            started: list[float] = []
            result = run_ingest(size, home, url, started)
            runs[setting].append({"seconds": time.perf_counter() - started[0], "cpu_s": _cpu() - started[1],
                                  "rows": result["rows"], "failed": result["failed"]})
    return {"settings": list(settings), "runs": [runs[setting] for setting in settings]}


def pairs_table(size: Size, result: dict, served: int) -> tuple[str, list[str]]:
    """The comparison's line of the table, and what went wrong (rows not stored, windows failed)."""
    (a, b), (first, second) = result["settings"], result["runs"]
    seconds = [(x["seconds"], y["seconds"]) for x, y in zip(first, second, strict=True)]
    ratios = sorted(y / x for x, y in seconds)
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    problems = [f"{size.name}, MONTH_THREADS={setting}: {run['rows']} rows stored of {served}, failed {run['failed']}"
                for setting, runs in zip(result["settings"], result["runs"], strict=True) for run in runs
                if run["rows"] != served or run["failed"]]

    def medians(key: str) -> str:
        return " / ".join(f"{statistics.median(run[key] for run in runs):.2f}" for runs in (first, second))

    line = (f"| {size.name} | {a} / {b} | {len(ratios)} | {medians('seconds')} | {medians('cpu_s')} | "
            f"**{statistics.median(ratios):.3f}** ({quartiles[0]:.3f}-{quartiles[2]:.3f}) | "
            f"{sum(y < x for x, y in seconds)} of {len(ratios)} |")
    return line, problems


def compare(sizes_: list[Size], directory: Path, server: PageServer, scratch: Path, pairs: int,
            settings: tuple[int, int]) -> None:
    """Print the comparison of two ``MONTH_THREADS`` settings for each size; exit 1 if a run lost rows."""
    print("| size | MONTH_THREADS A / B | pairs | ingest s, medians A / B | CPU s, medians A / B | "
          "time B / A: median of the pairs (quartiles) | pairs B was faster |")
    print("|---|---|---|---|---|---|---|")
    problems = []
    for size in sizes_:
        served = sum(rows for *_, rows in pages_of(directory, size))
        _, lines = child([*step_command(size, directory), "--mode", "pairs", "--home", str(scratch / size.name),
                          "--url", server.url, "--pairs", str(pairs), "--month-threads", *map(str, settings)])
        line, found = pairs_table(size, json.loads(lines[-1]), served)
        print(line, flush=True)
        problems += found
    for problem in problems:
        print(problem)
    if problems:
        sys.exit(1)
    print("checks passed: every run of both settings stored every served row")


def measure(mode: str, args: argparse.Namespace) -> dict:
    size = Size(args.size, args.bas, datetime.fromisoformat(args.start), datetime.fromisoformat(args.end))
    if mode == "pairs":
        return run_pairs(size, args.home, args.url, args.pairs, tuple(args.month_threads))
    started: list[float] = []
    if mode == "decode":
        result = run_decode(args.data, size, started)
    elif mode == "pipeline":
        result = run_pipeline(args.data, size, args.home, started)
    else:
        result = run_ingest(size, args.home, args.url, started)
    seconds = time.perf_counter() - started[0]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {**result, "seconds": seconds, "clocked_cpu_s": usage.ru_utime + usage.ru_stime - started[1]}


def step_command(size: Size, directory: Path) -> list[str]:
    """This script's command line for one step of ``size`` in a process of its own; add ``--mode`` and the rest."""
    return [sys.executable, __file__, "--data", str(directory), "--size", size.name, "--bas", size.bas,
            "--start", size.start.isoformat(), "--end", size.end.isoformat()]


def child(command: list[str], *, env: dict | None = None, check: bool = True) -> tuple[dict, list[str]]:
    """Run ``command``; its wall time, peak RSS and CPU seconds (its own, via ``wait4``) and its stdout
    lines. A failure raises, or with ``check=False`` is recorded as ``error`` (a command killed for
    memory is a result too)."""
    with tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, env=env, text=True)
        lines = [line.rstrip("\n") for line in process.stdout]
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - began
        process.returncode = os.waitstatus_to_exitcode(status)
        process.stdout.close()
        err.seek(0)
        stderr = err.read().decode()
    measured = {"wall_s": wall, "peak_rss": usage.ru_maxrss * 1024, "cpu_s": usage.ru_utime + usage.ru_stime}
    if process.returncode != 0:
        text = "\n".join(lines)
        message = f"{command[2:5]} failed ({process.returncode}):\n{text[-2000:]}\n{stderr[-4000:]}"
        if check:
            raise RuntimeError(message)
        print(message, file=sys.stderr, flush=True)
        measured["error"] = f"exit {process.returncode}: {stderr.strip().splitlines()[-1] if stderr.strip() else ''}"
    return measured, lines


def directory_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def measure_size(size: Size, directory: Path, server: PageServer, scratch: Path, keep: bool,
                 repeat: int = 1) -> dict:
    from energy_core.home import Home

    base = step_command(size, directory)
    result: dict = {**size.record(), "ba_count": len(balancing_authorities(size.bas)),
                    "load_before": os.getloadavg()[0]}
    home = scratch / size.name
    runs = []
    for _ in range(repeat):  # interleaved, so a drift in the machine's speed touches the limit and energy alike
        run: dict = {}
        usage, lines = child([*base, "--mode", "decode"])
        run["decode"] = {**json.loads(lines[-1]), **usage}
        shutil.rmtree(home, ignore_errors=True)
        usage, lines = child([*base, "--mode", "pipeline", "--home", str(home)])
        run["pipeline"] = {**json.loads(lines[-1]), **usage}
        shutil.rmtree(home, ignore_errors=True)
        served = server.stats()
        usage, lines = child([*base, "--mode", "ingest", "--home", str(home), "--url", server.url])
        after = server.stats()
        run["ingest"] = {**json.loads(lines[-1]), **usage, "server_cpu_s": after["cpu_s"] - served["cpu_s"],
                         "served": after["requests"] - served["requests"], "misses": after["misses"] - served["misses"]}
        runs.append(run)
    for name in ("decode", "pipeline", "ingest"):  # the median run of each step (the last ingest's home stays)
        result[name] = sorted((run[name] for run in runs), key=lambda step: step["seconds"])[len(runs) // 2]
    result["ratios"] = {name: [run["decode"]["seconds"] / run[name]["seconds"] for run in runs]
                        for name in ("pipeline", "ingest")}
    layout = Home(home)
    result["store"] = {"processed": directory_size(Path(layout.processed)), "raw": directory_size(layout.raw)}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EIA_", "ENERGY_"))}
    env["ENERGY_HOME"] = str(home)
    for name, arguments in COMMANDS.items():
        usage, lines = child([sys.executable, "-m", "energy_core", *arguments], env=env, check=False)
        result[name] = {**usage, "lines": len(lines)}
        if name == "features":
            result[name]["entities"] = sum(1 for line in lines if ": build " in line)
        if name == "query":
            result[name]["groups"] = max(0, len(lines) - 1)
            result[name]["rows_counted"] = _counted("\n".join(lines))
    result["store"]["features"] = directory_size(Path(layout.features))
    if not keep:
        shutil.rmtree(home, ignore_errors=True)
    return result


def _counted(csv_text: str) -> int:
    import csv
    import io

    reader = csv.DictReader(io.StringIO(csv_text))
    return sum(int(row["hours"]) for row in reader)


# -- the report ---------------------------------------------------------------------------------------

def gib(n: float) -> str:
    return f"{n / 2**30:.2f}"


def _step(r: dict, name: str) -> str:
    """``wall s (CPU s) | peak GiB`` of one command."""
    step = r[name]
    if "error" in step:
        return f"failed ({step['error'][:40]}) | {gib(step['peak_rss'])}"
    return f"{step['wall_s']:.1f} ({step['cpu_s']:.1f}) | {gib(step['peak_rss'])}"


def ingest_table(results: list[dict]) -> str:
    lines = ["| size | years | BAs | rows | pages (GB of JSON) | decode limit rows/s | pipeline s | pipeline / limit | "
             "pipeline peak RSS GiB | ingest s | ingest rows/s | ingest / limit | CPU s: decode / ingest (ratio) | "
             "ingest peak RSS GiB | processed MiB | raw cache MiB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        ingest, decode = r["ingest"], r["decode"]
        limit, speed = decode["rows"] / decode["seconds"], ingest["rows"] / ingest["seconds"]
        pipeline = r.get("pipeline")  # not measured before 3 December 2026
        ratios = r.get("ratios", {})  # one run each before 3 December 2026
        stored = (f"{pipeline['seconds']:.1f} | {_ratio(ratios.get('pipeline'), decode, pipeline)} | "
                  f"{gib(pipeline['peak_rss'])}") if pipeline else "- | - | -"
        lines.append(
            f"| {r['size']} | {r['years']} | {r['ba_count']} | {ingest['rows']:,} | "
            f"{decode['pages']:,} ({decode['bytes'] / 1e9:.2f}) | {limit / 1e6:.2f} M | {stored} | "
            f"{ingest['seconds']:.1f} | "
            f"{speed / 1e6:.2f} M | {_ratio(ratios.get('ingest'), decode, ingest)} | {decode['clocked_cpu_s']:.1f} / "
            f"{ingest['clocked_cpu_s']:.1f} ({decode['clocked_cpu_s'] / ingest['clocked_cpu_s']:.2f}x) | "
            f"{gib(ingest['peak_rss'])} | {r['store']['processed'] / 2**20:.0f} | {r['store']['raw'] / 2**20:.0f} |")
    return "\n".join(lines)


def _ratio(ratios: list[float] | None, decode: dict, step: dict) -> str:
    """The median of the interleaved runs' limit / step ratios and their range (one run: its ratio)."""
    if not ratios:
        return f"{decode['seconds'] / step['seconds']:.2f}x"
    ordered = sorted(ratios)
    median = statistics.median(ordered)
    return f"{median:.2f}x" if len(ordered) == 1 else f"{median:.2f}x ({ordered[0]:.2f}-{ordered[-1]:.2f})"


def after_table(results: list[dict]) -> str:
    lines = ["| size | rows | `energy features build` s (CPU s) | peak GiB | `energy status` s (CPU s) | peak GiB | "
             "`energy quality` s (CPU s) | peak GiB | SQL aggregate s (CPU s) | peak GiB | feature store MiB |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['size']} | {r['ingest']['rows']:,} | {_step(r, 'features')} | {_step(r, 'status')} | "
                     f"{_step(r, 'quality')} | {_step(r, 'query')} | {r['store']['features'] / 2**20:.0f} |")
    return "\n".join(lines)


def growth(results: list[dict], clock: str) -> str:
    """How each step's time (``wall`` or ``cpu`` seconds) grows from one size to the next, beside how
    the rows grow: equal numbers are linear growth."""
    measured = {"wall": ("seconds", "wall_s"), "cpu": ("clocked_cpu_s", "cpu_s")}[clock]

    def seconds(r: dict, name: str) -> float:
        step = r[name]
        return float("nan") if "error" in step else step[measured[name not in ("ingest", "decode")]]

    names = ["ingest", "decode", *COMMANDS]
    lines = [f"| {clock} time: from -> to | rows x | " + " | ".join(f"{name} x" for name in names) + " |",
             "|---|---|" + "---|" * len(names)]
    by_name = {r["size"]: r for r in results}
    pairs = [(f"1y-{b}", f"3y-{b}") for b in ("1", "8", "all")] + [(f"3y-{b}", f"10y-{b}") for b in ("1", "8", "all")]
    pairs += [(f"{y}y-1", f"{y}y-8") for y in (1, 3, 10)] + [(f"{y}y-8", f"{y}y-all") for y in (1, 3, 10)]
    pairs += [("10y-all", "history-all")]
    for small, large in pairs:
        if small in by_name and large in by_name:
            a, b = by_name[small], by_name[large]
            cells = [f"{seconds(b, name) / seconds(a, name):.2f}" for name in names]
            lines.append(f"| {small} -> {large} | {b['ingest']['rows'] / a['ingest']['rows']:.2f} | "
                         + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=CACHE, help="where the rendered pages live")
    parser.add_argument("--scratch", type=Path, help="where the homes go (default: a temporary folder)")
    parser.add_argument("--smoke", action="store_true", help="1 BA, 2 months, in a temporary folder")
    parser.add_argument("--only", action="append", help="a size to measure (repeatable), e.g. 1y-8, history-all")
    parser.add_argument("--keep", action="store_true", help="keep each size's home")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="measure the limit, the pipeline and the ingest N times, interleaved; report the "
                             "median of each and every run's ratio")
    parser.add_argument("--render-processes", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the raw numbers here (after each size)")
    parser.add_argument("--report", type=Path, metavar="JSON", help="print the tables of a --json file only")
    parser.add_argument("--month-threads", type=int, nargs=2, metavar=("A", "B"),
                        help="compare two settings of the lake's MONTH_THREADS (see above) instead of measuring")
    parser.add_argument("--pairs", type=int, default=25, metavar="N", help="runs of each setting (--month-threads)")
    parser.add_argument("--mode", choices=["serve", "decode", "pipeline", "ingest", "pairs"], help=argparse.SUPPRESS)
    for hidden in ("--size", "--bas", "--start", "--end", "--url"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode == "serve":
        serve(args.data)
        return
    if args.mode:
        print(json.dumps(measure(args.mode, args)))
        return
    if args.report:
        report(json.loads(args.report.read_text()))
        return
    if args.repeat < 1 or args.pairs < 1:
        parser.error(f"--repeat and --pairs must be 1 or more, not {args.repeat} and {args.pairs}")
    if args.month_threads and min(args.month_threads) < 1:
        parser.error(f"--month-threads takes two counts of 1 or more, not {args.month_threads}")
    with tempfile.TemporaryDirectory(prefix="energy-scale-") as temporary:
        scratch = args.scratch or Path(temporary)
        end = history_end()
        if args.smoke:
            directory, wanted = Path(temporary) / "pages", [smoke_size(end)]
        else:
            directory, wanted = args.data, [s for s in sizes(end) if not args.only or s.name in args.only]
            if not wanted:
                parser.error(f"--only names no size; sizes: {', '.join(s.name for s in sizes(end))}")
        generate(directory, wanted, args.render_processes)
        server = PageServer(directory)
        if args.month_threads:
            try:
                compare(wanted, directory, server, scratch, args.pairs, tuple(args.month_threads))
            finally:
                server.close()
            return
        results = []
        try:
            for size in wanted:
                began = time.perf_counter()
                results.append(measure_size(size, directory, server, scratch, args.keep, args.repeat))
                print(f"{size.name}: measured in {time.perf_counter() - began:.0f} s (load average "
                      f"{os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
                if args.json:  # kept as it grows: a long run that fails late leaves what it measured
                    args.json.write_text(json.dumps(results, indent=1))
        finally:
            server.close()
    report(results)


def report(results: list[dict]) -> None:
    """Print the tables, then check that every served row was stored, counted and built; exit 1 if not."""
    print(ingest_table(results))
    print()
    print(after_table(results))
    print()
    if len(results) > 1:
        print(growth(results, "wall"))
        print()
        print(growth(results, "cpu"))
        print()
    problems = []
    for r in results:
        ingest = r["ingest"]
        if "pipeline" in r and r["pipeline"]["rows"] != r["decode"]["rows"]:
            problems.append(f"{r['size']}: the pipeline stored {r['pipeline']['rows']} rows of {r['decode']['rows']}")
        if ingest["failed"] or ingest["misses"] or ingest["rows"] != r["decode"]["rows"]:
            problems.append(f"{r['size']}: {ingest['rows']} rows stored of {r['decode']['rows']} served, "
                            f"{ingest['misses']} unrendered requests, failed windows {ingest['failed']}")
        problems += [f"{r['size']}: {name} {r[name]['error']}" for name in COMMANDS if "error" in r[name]]
        if "error" not in r["query"] and r["query"]["rows_counted"] != ingest["rows"]:
            problems.append(f"{r['size']}: the SQL aggregate counted {r['query']['rows_counted']} rows of "
                            f"{ingest['rows']} stored")
        if r["features"]["entities"] != r["ba_count"]:
            problems.append(f"{r['size']}: {r['features']['entities']} entities built")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    if problems:
        sys.exit(1)
    print("checks passed: every served row stored, counted by SQL, and every BA built")


if __name__ == "__main__":
    main()
