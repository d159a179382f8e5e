"""Fetch benchmark: how close a client comes to the request budget of a slow, throttled service.

A year (2019) of six balancing authorities (ERCO ISNE MISO NYIS PACW PJM), both EIA datasets
(region-data and fuel-type-data), fetched through the EIA simulator while it admits 5 requests/s
(burst 5) and answers each request only after a latency (0.4 s, then 2 s). The simulator replays the
recorded 2019 year (``../shared/real/eia930_2019/``) when it is there, else its synthetic data.
Each path runs in its own fresh process against its own simulator; its clock starts after its
imports, once the simulator is listening:

  energy          ``energy_core.run`` of ``--source eia``, with the simulated budget as its budget
                  (what ``energy run --simulate`` does with ENERGY_SIM_RATE / ENERGY_SIM_BURST set)
  gridstatus xN   gridstatus's ``EIA.get_dataset`` with ``n_workers=N`` (1 and 4), for both datasets
  caiso           ``energy_core.run`` of ``--source caiso`` through the CAISO simulator at OASIS's
                  real budget, 1 request per 5 s (burst 1): ten requests (three datasets, two months)

Per path: the wall time; the floor, the data requests the range needs (``pages``: one per 5,000 rows
of each request the path makes) divided by the rate; the fraction of the budget's speed reached
(floor / time); the requests the simulator answered and the 429s it sent; the most requests it
admitted within any 1-second span, which must stay within the budget (rate + burst); and whether
the rows the path ended with (energy: its store; gridstatus: the pages it received) are exactly the
rows the simulator serves. A gridstatus run that stops at a 429 is reported as such.

    uv run --group bench python benchmarks/fetch.py                     # every path (about 10 minutes)
    uv run --group bench python benchmarks/fetch.py --latency 0.4 --paths energy caiso
    uv run --group bench python benchmarks/fetch.py --json fetch.json   # also the raw numbers
    uv run python benchmarks/fetch.py --smoke     # a few days of 2 BAs, fast; exits non-zero unless
                                                  # every row is right and no 1-s span exceeds the budget
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

REAL = Path(__file__).resolve().parents[1] / "tests" / "data" / "eia930_2019" / "eia930_2019_6ba.parquet"
BAS = ("ERCO", "ISNE", "MISO", "NYIS", "PACW", "PJM")
EIA_DATASETS = ("eia.region", "eia.fuel")
CAISO_DATASETS = ("caiso.load", "caiso.load_forecast", "caiso.lmp")
"""1 + 3 + 1 OASIS requests per calendar month."""
GRIDSTATUS_WORKERS = (1, 4)


@dataclass(frozen=True)
class Setup:
    """One measurement, handed to its child process as JSON."""

    path: str
    """``energy``, ``gridstatus`` or ``caiso``."""
    start: str
    end: str
    regions: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    rate: float = 5.0
    burst: int = 5
    latency_s: float = 0.4
    workers: int = 1
    table: str | None = None
    """The table the EIA simulator replays (None: its synthetic data)."""
    expected: str | None = None
    """A Parquet file of the rows the EIA simulator serves for the range, to check the path's rows."""

    @property
    def label(self) -> str:
        return f"gridstatus x{self.workers}" if self.path == "gridstatus" else self.path

    @property
    def range(self) -> tuple[datetime, datetime]:
        return datetime.fromisoformat(self.start), datetime.fromisoformat(self.end)


@dataclass
class Result:
    label: str
    latency_s: float
    rate: float
    burst: int
    pages: int = 0
    """Data requests the range needs, the way this path asks for it."""
    floor_s: float = 0.0
    seconds: float = 0.0
    requests: int = 0
    """Requests the simulator answered, 429s included."""
    throttled: int = 0
    over_rate: int = 0
    max_in_1s: int = 0
    max_in_flight: int = 0
    outcome: str = "ok"
    rows: dict[str, int] = field(default_factory=dict)
    """expected / got / missing / extra / differing, when the rows were checked."""

    @property
    def fraction(self) -> float:
        return self.floor_s / self.seconds if self.seconds else 0.0

    @property
    def within_budget(self) -> bool:
        return self.max_in_1s <= self.rate + self.burst

    @property
    def rows_right(self) -> bool | None:
        if not self.rows:
            return None
        return self.rows["missing"] == self.rows["extra"] == self.rows["differing"] == 0

    def record(self) -> dict[str, Any]:
        return asdict(self) | {"fraction": self.fraction, "within_budget": self.within_budget,
                               "rows_right": self.rows_right}


# --- the simulator's side ------------------------------------------------------------------------

def throttle(setup: Setup) -> Any:
    from energy_core.plugin.simulator import Throttle

    return Throttle(rate=setup.rate, burst=setup.burst, latency_s=setup.latency_s)


def eia_simulator(setup: Setup) -> Any:
    """The EIA simulator, also reading the key and parameters from the ``X-Api-Key`` and ``X-Params``
    headers: EIA's gateway accepts them there, and gridstatus sends them that way (API_FACTS 1.2)."""
    from energy_core.plugin.simulator import SimRequest
    from energy_eia.simulator import EiaSimulator

    class HeaderParams(EiaSimulator):
        def handle(self, request: SimRequest) -> Any:
            return super().handle(with_header_params(request))

    return HeaderParams(throttle=throttle(setup), table=Path(setup.table) if setup.table else None)


def with_header_params(request: Any) -> Any:
    """The request with gridstatus's JSON ``X-Params`` header (and ``X-Api-Key``) as query parameters."""
    from energy_core.plugin.simulator import SimRequest

    headers = {k.lower(): v for k, v in request.headers.items()}
    if "x-params" not in headers:
        return request
    params = json.loads(headers["x-params"])
    query = [(name, str(params[name])) for name in ("frequency", "start", "end", "offset", "length")
             if params.get(name) is not None]
    query += [(f"data[{i}]", value) for i, value in enumerate(params.get("data", []))]
    query += [(f"facets[{name}][]", v) for name, values in params.get("facets", {}).items() for v in values]
    for i, sort in enumerate(params.get("sort", [])):
        query += [(f"sort[{i}][column]", sort["column"]), (f"sort[{i}][direction]", sort.get("direction", "asc"))]
    if "x-api-key" in headers:
        query.append(("api_key", headers["x-api-key"]))
    return SimRequest(request.path, [*request.query, *query], request.headers)


def served(setup: Setup, path: Path) -> None:
    """Write the rows the EIA simulator serves for the range (both routes, every code), read page by
    page through its own request handler, as ``dataset, region, code, period, value``."""
    import orjson
    import polars as pl

    from energy_core.plugin.simulator import SimRequest
    from energy_eia.codes import ROUTES
    from energy_eia.simulator import EiaSimulator
    from energy_eia.source import PAGE_LENGTH

    simulator = EiaSimulator(table=Path(setup.table) if setup.table else None)  # unthrottled, not listening
    first, last = (t.strftime("%Y-%m-%dT%H") for t in hour_ending(setup))
    frames = []
    for dataset in EIA_DATASETS:
        route = ROUTES[dataset]
        offset, total = 0, None
        while total is None or offset < total:
            query = [("frequency", "hourly"), ("data[0]", "value"), ("start", first), ("end", last),
                     *[("facets[respondent][]", r) for r in setup.regions],
                     ("sort[0][column]", "period"), ("sort[0][direction]", "asc"),
                     ("offset", str(offset)), ("length", str(PAGE_LENGTH)), ("api_key", simulator.api_key)]
            response = simulator.handle(SimRequest(f"/v2/{route.path}/data/", query, {}))
            assert response.status == 200, response.body[:300]
            body = orjson.loads(response.body)["response"]
            total = int(body["total"])
            frames.append(rows_frame(dataset, body["data"]))
            offset += PAGE_LENGTH
    pl.concat(frames).write_parquet(path)


def hour_ending(setup: Setup) -> tuple[datetime, datetime]:
    """The first and last ``period`` of the range: EIA stamps an hour by its end, bounds inclusive."""
    start, end = setup.range
    return start + timedelta(hours=1), end


def rows_frame(dataset: str, data: list[dict]) -> Any:
    """EIA rows as ``dataset, region, code, period, value`` (values come as text, numbers or null)."""
    import polars as pl

    from energy_eia.codes import ROUTES

    column = ROUTES[dataset].code_column
    return pl.DataFrame({
        "dataset": [dataset] * len(data),
        "region": [r["respondent"] for r in data],
        "code": [r[column] for r in data],
        "period": [r["period"] for r in data],
        "value": [None if r.get("value") is None else float(r["value"]) for r in data],
    }, schema={"dataset": pl.String, "region": pl.String, "code": pl.String, "period": pl.String,
               "value": pl.Float64})


def pages_needed(expected: Any, windows: list[tuple[str, datetime, datetime, tuple[str, ...]]]) -> int:
    """One request per 5,000 rows of each (dataset, first hour, last hour, regions) request, at least one."""
    import polars as pl

    from energy_eia.source import PAGE_LENGTH

    pages = 0
    for dataset, start, end, regions in windows:
        first, last = start.strftime("%Y-%m-%dT%H"), end.strftime("%Y-%m-%dT%H")
        rows = expected.filter(pl.col("dataset") == dataset, pl.col("period").is_between(pl.lit(first), pl.lit(last)),
                               pl.col("region").is_in(list(regions))).height
        pages += max(1, math.ceil(rows / PAGE_LENGTH))
    return pages


def compare(expected: Any, got: Any) -> dict[str, int]:
    """Rows served vs rows the path holds, on (dataset, region, code, period): missing, extra (duplicates
    included) and differing values."""
    import polars as pl

    keys = ["dataset", "region", "code", "period"]
    distinct = got.unique(keys)
    both = expected.join(distinct, on=keys, how="inner", suffix="_got")
    return {
        "expected": expected.height,
        "got": got.height,
        "missing": expected.join(distinct, on=keys, how="anti").height,
        "extra": distinct.join(expected, on=keys, how="anti").height + (got.height - distinct.height),
        "differing": both.filter(pl.col("value").ne_missing(pl.col("value_got"))).height,
    }


def traffic(result: Result, simulator: Any) -> None:
    record = simulator.traffic
    result.requests, result.throttled, result.over_rate = record.requests, record.throttled, record.over_rate
    result.max_in_1s, result.max_in_flight = record.max_in(1.0), record.max_in_flight


# --- the paths, each in a child process ----------------------------------------------------------

def run_energy(setup: Setup, result: Result) -> None:
    import polars as pl

    from energy_core.ingest.runner import RunConfig, run
    from energy_core.plugin.interfaces import FetchRequest
    from energy_core.storage.lake import Lake
    from energy_eia.codes import ROUTES
    from energy_eia.source import EiaSource

    start, end = setup.range
    expected = pl.read_parquet(setup.expected)
    windows = EiaSource.plan(EiaSource.__new__(EiaSource), FetchRequest(start, end, setup.regions, EIA_DATASETS))
    result.pages = pages_needed(expected, [(w.dataset, w.start + timedelta(hours=1), w.end, w.regions)
                                           for w in windows])
    with tempfile.TemporaryDirectory() as home, eia_simulator(setup) as simulator:
        config = RunConfig(sources=("eia",), start=start, end=end, home=Path(home), regions=setup.regions,
                           env={**os.environ, **simulator.env()}, budgets={"eia": simulator.budget})
        started = time.perf_counter()
        report = run(config)
        result.seconds = time.perf_counter() - started
        traffic(result, simulator)
        if not report.ok:
            result.outcome = f"failed windows: {[w.error for w in report.failed][:3]}"
        store = Lake(home)
        got = []
        for dataset in EIA_DATASETS:
            codes = {series: code for code, series in ROUTES[dataset].series.items()}
            got.append(store.scan(dataset).collect().select(
                dataset=pl.lit(dataset), region="region",
                code=pl.col("series").replace_strict(codes, default=pl.col("series").str.extract(r"\.(.*)$")
                                                     .str.to_uppercase()),
                period=(pl.col("ts") + timedelta(hours=1)).dt.strftime("%Y-%m-%dT%H"), value="value"))
        result.rows = compare(expected, pl.concat(got))


def run_gridstatus(setup: Setup, result: Result) -> None:
    """gridstatus's own client, its class's ``BASE_URL`` pointed at the simulator in a subclass that
    also keeps each page it receives (to check the rows); its requests and concurrency are its own."""
    import gridstatus
    import pandas as pd
    import polars as pl
    import requests

    from energy_eia.codes import ROUTES

    start, end = hour_ending(setup)
    expected = pl.read_parquet(setup.expected)
    result.pages = pages_needed(expected, [(d, start, end, setup.regions) for d in EIA_DATASETS])
    received: list[tuple[str, pd.DataFrame]] = []
    lock = threading.Lock()
    with eia_simulator(setup) as simulator:

        class Pointed(gridstatus.EIA):
            BASE_URL = f"{simulator.url}/v2/"

            def _fetch_page(self, url: str, headers: dict) -> tuple[pd.DataFrame, int]:
                frame, total = super()._fetch_page(url, headers)
                with lock:
                    received.append((url, frame))
                return frame, total

        client = Pointed(api_key=simulator.env()["EIA_API_KEY"])
        started = time.perf_counter()
        try:
            for dataset in EIA_DATASETS:
                client.get_dataset(ROUTES[dataset].path, pd.Timestamp(start), pd.Timestamp(end),
                                   facets={"respondent": list(setup.regions)}, n_workers=setup.workers)
        except requests.HTTPError as exc:
            result.outcome = f"aborted: {exc.response.status_code} {exc.response.reason}"
        result.seconds = time.perf_counter() - started
        traffic(result, simulator)
    if result.outcome == "ok":
        by_path = {route.path: dataset for dataset, route in ROUTES.items()}
        got = [rows_frame(by_path[url.split("/v2/")[1].removesuffix("/data/")], frame.to_dict("records"))
               for url, frame in received]
        result.rows = compare(expected, pl.concat(got))


def run_caiso(setup: Setup, result: Result) -> None:
    from energy_caiso.reports import OASIS_DATASETS
    from energy_caiso.simulator import CaisoSimulator
    from energy_caiso.source import CaisoSource

    from energy_core.ingest.runner import RunConfig, run
    from energy_core.plugin.interfaces import FetchRequest

    start, end = setup.range
    windows = CaisoSource.plan(CaisoSource.__new__(CaisoSource), FetchRequest(start, end, (), setup.datasets))
    result.pages = sum(len(OASIS_DATASETS[w.dataset]) for w in windows)
    with tempfile.TemporaryDirectory() as home, CaisoSimulator(throttle=throttle(setup)) as simulator:
        config = RunConfig(sources=("caiso",), start=start, end=end, home=Path(home), datasets=setup.datasets,
                           env={**os.environ, **simulator.env()}, budgets={"caiso": simulator.budget})
        started = time.perf_counter()
        report = run(config)
        result.seconds = time.perf_counter() - started
        traffic(result, simulator)
        if not report.ok:
            result.outcome = f"failed windows: {[w.error for w in report.failed][:3]}"
        result.rows = {}  # not compared: this path measures the time against OASIS's budget


def measure(setup: Setup) -> Result:
    result = Result(setup.label, setup.latency_s, setup.rate, setup.burst)
    {"energy": run_energy, "gridstatus": run_gridstatus, "caiso": run_caiso}[setup.path](setup, result)
    result.floor_s = result.pages / setup.rate
    return result


# --- the parent: plan, run each path in a fresh process, report ----------------------------------

def setups(args: argparse.Namespace, expected: Path) -> list[Setup]:
    if args.smoke:
        eia = Setup("energy", "2019-01-29T00:00+00:00", "2019-02-03T00:00+00:00", ("PACW", "ERCO"), EIA_DATASETS,
                    rate=20.0, burst=2, latency_s=0.01, expected=str(expected))
        caiso = Setup("caiso", "2024-01-30T00:00+00:00", "2024-02-02T00:00+00:00", (), CAISO_DATASETS,
                      rate=20.0, burst=1, latency_s=0.01)
        latencies = [eia.latency_s]
    else:
        table = None if args.synthetic else str(args.table) if args.table.exists() else None
        eia = Setup("energy", "2019-01-01T00:00+00:00", "2020-01-01T00:00+00:00", BAS, EIA_DATASETS,
                    rate=5.0, burst=5, table=table, expected=str(expected))
        caiso = Setup("caiso", "2024-01-20T00:00+00:00", "2024-02-10T00:00+00:00", (), CAISO_DATASETS,
                      rate=0.2, burst=1, latency_s=args.caiso_latency)
        latencies = args.latency
    chosen = []
    for latency in latencies:
        if "energy" in args.paths:
            chosen.append(replace(eia, latency_s=latency))
        if "gridstatus" in args.paths and gridstatus_installed():
            chosen += [replace(eia, path="gridstatus", latency_s=latency, workers=n) for n in GRIDSTATUS_WORKERS]
    if "caiso" in args.paths:
        chosen.append(caiso)
    return chosen


def gridstatus_installed() -> bool:
    import importlib.util

    if importlib.util.find_spec("gridstatus") is None:
        print("gridstatus is not installed (uv sync --group bench): its paths are skipped", file=sys.stderr)
        return False
    return True


def child(setup: Setup) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(asdict(setup))], capture_output=True,
                         text=True)
    if out.returncode != 0:
        sys.exit(f"{setup.label} (latency {setup.latency_s} s) failed:\n{out.stdout}{out.stderr}")
    return json.loads(out.stdout.splitlines()[-1])


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| path | latency | pages | floor s | time s | of the budget's speed | requests | 429s | "
             "most in 1 s (budget) | most in flight | rows right |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        rows, ok = r["rows"], r["outcome"] == "ok"
        right = ("-" if r["rows_right"] is None else
                 f"yes ({rows['got']:,})" if r["rows_right"] else
                 f"**no**: {rows['missing']:,} missing, {rows['extra']:,} extra, {rows['differing']:,} differ")
        budget = f"{r['max_in_1s']} ({r['rate'] + r['burst']:g})" + ("" if r["within_budget"] else " **over**")
        name = r["label"] if ok else f"{r['label']}: **{r['outcome']}**"
        fraction = f"{r['fraction']:.2f}" if ok else "-"
        lines.append(f"| {name} | {r['latency_s']:g} s | {r['pages']:,} | {r['floor_s']:.1f} | {r['seconds']:.1f} | "
                     f"{fraction} | {r['requests']:,} | {r['throttled']:,} | {budget} | {r['max_in_flight']} | "
                     f"{right} |")
    return "\n".join(lines)


def smoke_failures(results: list[dict[str, Any]]) -> list[str]:
    """What the smoke run insists on: no 1-s span over the budget; energy's rows (and gridstatus's, when
    it finished) all right; energy and caiso finish."""
    failures = []
    for r in results:
        name = f"{r['label']} at {r['latency_s']:g} s"
        if not r["within_budget"]:
            failures.append(f"{name}: {r['max_in_1s']} requests admitted within 1 s, over the budget")
        if r["label"] in ("energy", "caiso") and r["outcome"] != "ok":
            failures.append(f"{name}: {r['outcome']}")
        if r["rows_right"] is False or (r["label"] == "energy" and r["rows_right"] is not True):
            failures.append(f"{name}: rows not right: {r['rows']}")
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="a few days of 2 BAs, fast, with its checks asserted")
    parser.add_argument("--paths", nargs="+", choices=["energy", "gridstatus", "caiso"],
                        default=["energy", "gridstatus", "caiso"])
    parser.add_argument("--latency", nargs="+", type=float, default=[0.4, 2.0], help="EIA answer latencies, s")
    parser.add_argument("--caiso-latency", type=float, default=2.0, help="OASIS answer latency, s")
    parser.add_argument("--table", type=Path, default=REAL, help="the EIA-930 table the simulator replays")
    parser.add_argument("--synthetic", action="store_true", help="serve the simulator's synthetic data instead")
    parser.add_argument("--json", type=Path, help="also write the raw numbers to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        setup = Setup(**json.loads(args.child))
        setup = replace(setup, regions=tuple(setup.regions), datasets=tuple(setup.datasets))
        print(json.dumps(measure(setup).record()))
        return
    with tempfile.TemporaryDirectory() as scratch:
        expected = Path(scratch) / "expected.parquet"
        chosen = setups(args, expected)
        eia = [s for s in chosen if s.expected]
        if eia:
            served(eia[0], expected)
        data = "synthetic data" if not eia or not eia[0].table else Path(eia[0].table).name
        results = []
        for setup in chosen:
            print(f"{setup.label}, latency {setup.latency_s:g} s ...", file=sys.stderr, flush=True)
            results.append(child(setup))
    print(f"EIA data: {data}; EIA at {chosen[0].rate:g} requests/s, burst {chosen[0].burst}")
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps({"data": data, "results": results}, indent=2))
    if args.smoke:
        failures = smoke_failures(results)
        if failures:
            sys.exit("smoke checks failed:\n" + "\n".join(failures))
        print("smoke checks passed: every row right, no 1-s span over the budget")


if __name__ == "__main__":
    main()
