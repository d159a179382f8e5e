"""Serving under load: `energy serve` on 127.0.0.1, N concurrent clients for T seconds, while `energy run`
stores new days and rebuilds the features (so the forecast is recomputed while it is being read).

The home is built through the real path in a temporary folder: simulated EIA-930 (region and fuel
data) for PACW, the feature build, and a small model (168-hour windows). Then:

  server   `energy serve --no-access-log` in a child process (uvicorn on 127.0.0.1)
  writer   `energy run --source eia --simulate` for one new day after another, in child processes
  clients  N asyncio tasks in this process, each with its own keep-alive HTTP/1.1 connection, each asking
           in turn for the forecast, the 168-hour context and a week of observed demand, waiting --think
           seconds between requests (0: as fast as answers come, which measures the server's capacity)

The clients speak HTTP/1.1 over asyncio streams themselves, as a load generator should: with httpx they
used more CPU per request than the server (1.96 ms against 1.46 ms), so on two cores the latencies
they saw were mostly their own queueing.

Every answer is checked: status 200, the whole body parses, the forecast holds 24 consecutive hours after
the last hour it read, the context 168 consecutive hours ending at the build's last hour, observations
sorted with no key twice, and no client ever sees an older feature build or fewer stored rows than it saw
before (a half-written or rolled-back state). The run fails (exit 1) on any error or such read.

    uv run python benchmarks/serve.py                        # 100 clients, 60 s, 0.1 s think time
    uv run python benchmarks/serve.py --think 0 --seconds 30 # closed loop: capacity
    uv run python benchmarks/serve.py --smoke                # 10 clients, 3 s, a small home; the tests run it
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
ENTITY = "PACW"
HOUR = timedelta(hours=1)
ENDPOINTS = ("forecast", "context", "observations")


@dataclass(frozen=True)
class Size:
    days: int
    clients: int
    seconds: float
    seq_len: int


FULL = Size(days=120, clients=100, seconds=60, seq_len=168)
SMOKE = Size(days=12, clients=10, seconds=3, seq_len=72)
START = date(2024, 1, 1)


def energy(*args: str) -> list[str]:
    return [sys.executable, "-m", "energy_core", *args]


def build(home: Path, size: Size) -> None:
    """Store, build and train through the library, as `energy run` and `energy train` do."""
    from energy_core.features import FeatureStore
    from energy_core.ingest.runner import RunConfig, run
    from energy_core.ml import TrainConfig, train

    start = datetime(START.year, START.month, START.day, tzinfo=UTC)
    report = run(RunConfig(sources=("eia",), start=start, end=start + timedelta(days=size.days), home=home,
                           regions=(ENTITY,), simulate=True))
    if not report.ok:
        sys.exit(f"the home's run failed: {report.failed}")
    FeatureStore(home).build([ENTITY])
    train(FeatureStore(home), TrainConfig(entity=ENTITY, seq_len=size.seq_len, stride=24, epochs=1, batch_size=8,
                                          d_model=32, n_heads=2, n_layers=1), home / "models" / ENTITY,
          progress=lambda _: None)


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in ENDPOINTS})
    errors: list[str] = field(default_factory=list)
    half_reads: list[str] = field(default_factory=list)
    stale: int = 0
    builds_seen: set[int] = field(default_factory=set)
    server_cpu: float = 0.0
    """CPU seconds the server used while the clients asked."""
    client_cpu: float = 0.0
    """CPU seconds the clients (this process: HTTP, parsing and checking every answer) used meanwhile."""
    load: tuple[float, float] = (0.0, 0.0)
    """The machine's 1-minute load average before and after (other work on the machine shows here)."""
    server_side: dict[str, list[float]] = field(default_factory=dict)
    """Route -> requests answered within each bucket of the server's own latency histogram, during the run."""


@dataclass
class Seen:
    """What one client saw last: it must never go back."""

    build: int = 0
    rows: int = 0


def check(endpoint: str, status: int, headers: dict[str, str], body: bytes, seen: Seen, tally: Tally) -> None:
    if status != 200:
        tally.errors.append(f"{endpoint}: HTTP {status}: {body[:200]!r}")
        return
    try:
        data = orjson.loads(body)
    except ValueError as exc:
        tally.half_reads.append(f"{endpoint}: the body does not parse: {exc}")
        return
    problem = None
    if endpoint == "forecast":
        through = datetime.fromisoformat(data["data_through"])
        hours = [datetime.fromisoformat(row["ts"]) for row in data["forecast"]]
        stale = headers.get("x-energy-stale") == "true"
        tally.stale += stale
        tally.builds_seen.add(data["feature_build"])
        if hours != [through + k * HOUR for k in range(1, 25)]:
            problem = "the forecast's hours do not follow its data"
        elif data["feature_build"] < seen.build and not stale:
            problem = f"build {data['feature_build']} after build {seen.build}"
    elif endpoint == "context":
        hours = [datetime.fromisoformat(row["ts"]) for row in data["data"]]
        if len(hours) != 168 or hours != [hours[0] + k * HOUR for k in range(168)]:
            problem = "the context's hours are not 168 consecutive ones"
        elif hours[-1] != datetime.fromisoformat(data["last_ts"]):
            problem = "the context does not end at its build's last hour"
        elif data["feature_build"] < seen.build:
            problem = f"build {data['feature_build']} after build {seen.build}"
        seen.build = max(seen.build, data["feature_build"])
        tally.builds_seen.add(data["feature_build"])
    else:
        keys = [(row["ts"], row["series"]) for row in data["data"]]
        if keys != sorted(keys) or len(set(keys)) != len(keys):
            problem = "observations out of order or a key twice"
        elif len(keys) < seen.rows:
            problem = f"{len(keys)} rows after {seen.rows}"
        seen.rows = max(seen.rows, len(keys))
    if problem:
        tally.half_reads.append(f"{endpoint}: {problem}")


class Connection:
    """One keep-alive HTTP/1.1 connection: GET requests, answers with a Content-Length or chunked."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode())
        try:
            status_line, *lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            headers = {name.strip().lower(): value.strip()
                       for name, _, value in (line.partition(":") for line in lines if line)}
            if "content-length" in headers:
                body = await reader.readexactly(int(headers["content-length"]))
            else:
                body = await self._chunked(reader)
        except BaseException:
            self.close()  # a half-read answer leaves the connection unusable
            raise
        if headers.get("connection") == "close":
            self.close()
        return int(status_line.split(" ", 2)[1]), headers, body

    @staticmethod
    async def _chunked(reader: asyncio.StreamReader) -> bytes:
        parts = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append((await reader.readexactly(size + 2))[:-2])
        await reader.readuntil(b"\r\n")  # the end of the (empty) trailer
        return b"".join(parts)

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def client(url: str, paths: dict[str, str], think: float, until: Callable[[], bool], tally: Tally,
                 seed: int) -> None:
    order = list(ENDPOINTS)
    random.Random(seed).shuffle(order)  # clients start on different endpoints
    seen = Seen()
    host, port = url.removeprefix("http://").rsplit(":", 1)
    connection = Connection(host, int(port))
    k = 0
    try:
        while not until():
            endpoint = order[k % len(order)]
            k += 1
            began = time.perf_counter()
            try:
                status, headers, body = await asyncio.wait_for(connection.get(paths[endpoint]), 30)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError) as exc:
                tally.errors.append(f"{endpoint}: {type(exc).__name__}: {exc}")
                continue
            tally.latencies[endpoint].append(time.perf_counter() - began)
            check(endpoint, status, headers, body, seen, tally)
            if think:
                await asyncio.sleep(think * random.uniform(0.5, 1.5))
    finally:
        connection.close()


def drive(url: str, size: Size, think: float, last_day: date, runs: list[str] | None = None) -> tuple[Tally, float]:
    """Ask for ``size.seconds`` (and, while ``runs`` is being written, until its first run has ended)."""
    week = last_day - timedelta(days=6)
    paths = {"forecast": f"/v1/forecast/{ENTITY}", "context": f"/v1/context/{ENTITY}?hours=168",
             "observations": f"/v1/observations?dataset=eia.region&region={ENTITY}&series=demand"
                             f"&start={week}&end={last_day + timedelta(days=1)}"}
    tally = Tally()

    async def everyone() -> float:
        stop, cap = time.monotonic() + size.seconds, time.monotonic() + size.seconds + 120

        def until() -> bool:
            now = time.monotonic()
            return now >= cap or (now >= stop and (runs is None or bool(runs)))

        began = time.perf_counter()
        await asyncio.gather(*(client(url, paths, think, until, tally, seed) for seed in range(size.clients)))
        return time.perf_counter() - began

    return tally, asyncio.run(everyone())


def write_days(home: Path, first: date, stop: threading.Event, runs: list[str], nice: int = 0) -> None:
    """`energy run` for one new day after another until ``stop`` (each run also rebuilds the features), at
    ``nice`` (as a deployment runs batch work beside a server that must answer fast)."""
    day = first
    while not stop.is_set():
        command = energy("run", "--source", "eia", "--simulate", "--region", ENTITY, "--start", str(day), "--end",
                         str(day), "--home", str(home))
        result = subprocess.run(["nice", "-n", str(nice), *command] if nice else command, capture_output=True,
                                text=True, cwd=ROOT)
        runs.append(f"{day}: exit {result.returncode}" + ("" if result.returncode == 0 else f": {result.stderr}"))
        day += timedelta(days=1)


ROUTES = {"forecast": "/v1/forecast/{entity}", "context": "/v1/context/{entity}", "observations": "/v1/observations"}
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, float("inf"))
"""Those of ``energy_http_request_duration_seconds`` (energy_core.serve.telemetry)."""


def _histograms(url: str) -> dict[str, dict[float, float]]:
    """Route -> {bucket bound: requests within it} from the server's /metrics: its own time per request, from
    the request's arrival to the last byte sent, without the clients' queueing (and their own CPU)."""
    import httpx

    found: dict[str, dict[float, float]] = {}
    pattern = re.compile(r'energy_http_request_duration_seconds_bucket\{le="([^"]+)",method="GET",'
                         r'route="([^"]+)"\} (\S+)')
    for le, route, count in pattern.findall(httpx.get(url + "/metrics", timeout=60).text):
        found.setdefault(route, {})[float(le)] = float(count)
    return found


def server_quantile(cumulative: list[float], q: float) -> float:
    """The upper bound of the histogram bucket that holds quantile ``q`` (an upper estimate)."""
    total = cumulative[-1] if cumulative else 0
    return next((bound for bound, n in zip(BUCKETS, cumulative, strict=True) if total and n >= q * total),
                float("nan"))


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="10 clients for 3 s over a 12-day home")
    parser.add_argument("--clients", type=int, help="concurrent clients (default 100)")
    parser.add_argument("--seconds", type=float, help="how long they ask (default 60)")
    parser.add_argument("--think", type=float, default=0.1,
                        help="seconds each client waits between requests, on average (0: closed loop)")
    parser.add_argument("--no-writer", action="store_true", help="read only, with no run writing meanwhile")
    parser.add_argument("--writer-nice", type=int, default=0, metavar="N",
                        help="run the writer's `energy run`s at this niceness (default 0: the server's priority)")
    args = parser.parse_args()
    base = SMOKE if args.smoke else FULL
    size = Size(base.days, args.clients or base.clients, args.seconds or base.seconds, base.seq_len)
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch) / "home"
        began = time.perf_counter()
        build(home, size)
        print(f"home: {size.days} days of EIA-930 for {ENTITY}, built and trained in "
              f"{time.perf_counter() - began:.0f} s", file=sys.stderr)
        server = subprocess.Popen(energy("serve", "--home", str(home), "--port", "0", "--no-access-log"),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        try:
            assert server.stderr is not None
            url = None
            for line in server.stderr:
                if found := re.search(r"at (http://127\.0\.0\.1:\d+)/", line):
                    url = found.group(1)
                    break
            if url is None:
                sys.exit("energy serve did not start")
            threading.Thread(target=lambda: server.stderr and server.stderr.read(), daemon=True).start()
            last_day = START + timedelta(days=size.days - 1)
            warm, _ = drive(url, Size(size.days, 1, 0.5, size.seq_len), 0, last_day)  # forecast computed, caches
            if warm.errors:
                sys.exit(f"the warm-up failed: {warm.errors[:3]}")
            stop, runs = threading.Event(), []
            writer = threading.Thread(target=write_days, args=(home, last_day + timedelta(days=1), stop, runs,
                                                                args.writer_nice))
            if not args.no_writer:
                writer.start()
            load, cpu, before = os.getloadavg()[0], _cpu_seconds(server.pid), _histograms(url)
            mine = time.process_time()
            tally, seconds = drive(url, size, args.think, last_day, None if args.no_writer else runs)
            tally.client_cpu = time.process_time() - mine
            tally.server_cpu, tally.load = _cpu_seconds(server.pid) - cpu, (load, os.getloadavg()[0])
            after = _histograms(url)
            tally.server_side = {route: [n - before.get(route, {}).get(le, 0) for le, n in buckets.items()]
                                 for route, buckets in after.items()}
            stop.set()
            if writer.is_alive():
                writer.join()
        finally:
            server.terminate()
            server.wait(timeout=30)
    report(tally, seconds, size, args.think, runs)


def report(tally: Tally, seconds: float, size: Size, think: float, runs: list[str]) -> None:
    total = sum(len(v) for v in tally.latencies.values())
    print(f"{size.clients} clients for {seconds:.1f} s, think time {think:g} s, while `energy run` stored "
          f"{len(runs)} new day(s): {total:,} requests, {total / seconds:,.0f}/s")
    print("| endpoint | requests | p50 ms | p99 ms | max ms | server-side p50 / p99 ms (bucket bound) | "
          "within 20 / 50 ms server-side |\n|---|---|---|---|---|---|---|")
    for name in ENDPOINTS:
        values, buckets = tally.latencies[name], tally.server_side.get(ROUTES[name], [])
        share = (f"{buckets[BUCKETS.index(0.02)] / buckets[-1]:.1%} / {buckets[BUCKETS.index(0.05)] / buckets[-1]:.1%}"
                 if buckets and buckets[-1] else "n/a")
        print(f"| {name} | {len(values):,} | {percentile(values, 0.5) * 1e3:.1f} | "
              f"{percentile(values, 0.99) * 1e3:.1f} | {max(values, default=float('nan')) * 1e3:.1f} | "
              f"{server_quantile(buckets, 0.5) * 1e3:g} / {server_quantile(buckets, 0.99) * 1e3:g} | {share} |")
    print(f"CPU per request: server {tally.server_cpu / max(total, 1) * 1e3:.2f} ms, clients "
          f"{tally.client_cpu / max(total, 1) * 1e3:.2f} ms ({tally.server_cpu:.1f} s and {tally.client_cpu:.1f} s); "
          f"1-minute load average {tally.load[0]:.1f} before, {tally.load[1]:.1f} after ({os.cpu_count()} cores)")
    print(f"errors: {len(tally.errors)}; half-written or rolled-back reads: {len(tally.half_reads)}; "
          f"stale forecasts (the previous one, answered while the new build's was computed): {tally.stale}; "
          f"feature builds seen: {sorted(tally.builds_seen)}")
    failed = [r for r in runs if "exit 0" not in r]
    problems = tally.errors[:5] + tally.half_reads[:5] + failed[:3]
    if not all(tally.latencies.values()):
        problems.append("an endpoint was never measured")
    if runs and len(tally.builds_seen) < 2:
        problems.append("no new build was served while the runs wrote")
    if problems:
        sys.exit("checks failed:\n" + "\n".join(problems))
    print("checks passed: every answer whole, no error, no reader went back to an older build or fewer rows")


if __name__ == "__main__":
    main()
