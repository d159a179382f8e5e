"""Screening and imputation of EIA-930 demand (issue 21, item 6) against the published result of Ruggles et
al. (2020), Scientific Data 7:155, on six BAs from July 2015 to December 2019:

1. agreement of the categories, per category: precision and recall of our flags against theirs, once as a
   user would screen (one run per BA over the whole span) and once as they ran it (ERCO and PACW from
   2018-10-01 on were screened in a run of their own, and their code counts hours beyond a run's ends as
   flagged: ``ScreeningConfig(published_edges=True)``);
2. the error of our imputation against theirs (MICE), at the hours they imputed;
3. the error of our imputation, and of linear interpolation, against hours of good data hidden on purpose
   (blocks of 1 to 168 hours at seeded random places);
4. the mis-stamp check on each BA's day-ahead forecast against its demand.

    uv run python benchmarks/screening.py [--json results.json]   # the full comparison (under a minute)
    uv run python benchmarks/screening.py --smoke   # the tests/data extract (PACW 2016-09 to 2017-05, PJM
                                                    # 2018-12 to 2019-04): seconds; the tests run it

Data: ``../shared/real/eia930_multi/`` (raw D and DF, and their screened file; see its PROVENANCE.md),
or ``tests/data/eia930_screening/`` for the smoke run. Timestamps there end the hour; comparisons are
hour for hour on them. Exits non-zero unless its checks pass (see ``check``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
FULL = ROOT.parent / "shared" / "real" / "eia930_multi"
SMOKE = ROOT / "tests" / "data" / "eia930_screening"
THEIR_SECOND_RUN = datetime(2018, 10, 1, tzinfo=UTC)
"""From this hour on, ERCO's and PACW's published categories come from a run of their own (the 2020 release
with subregions)."""
LENGTHS = (1, 3, 6, 12, 24, 72, 168)
"""Hours per hidden block."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=40, help="Hidden blocks per length and BA.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="The tests/data extract, 10 blocks per length.")
    parser.add_argument("--json", type=Path, help="Also write every result to this file.")
    args = parser.parse_args()
    raw, published = load(args.smoke)
    results = {"agreement": agreement(raw, published, as_published=False),
               "agreement_as_published": agreement(raw, published, as_published=True),
               "against_theirs": against_theirs(raw, published),
               "hidden": hidden(raw, published, 10 if args.smoke else args.trials, args.seed),
               "misstamp": misstamp(raw)}
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    check(results, smoke=args.smoke)


def load(smoke: bool) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Raw hourly demand and forecast (``timestamp_utc``, ``region``, ``type``, ``value_mw``) and the published
    screening (``timestamp_utc``, ``region``, ``category``, ``cleaned_demand_mw``)."""
    if smoke:
        pacw = pl.read_parquet(SMOKE / "ruggles_PACW_2016-09_2017-05.parquet")
        raw = pl.concat([
            pacw.filter(pl.col("raw_demand_mw").is_not_null()).select(
                "timestamp_utc", "region", type=pl.lit("D"), value_mw="raw_demand_mw"),
            pl.read_parquet(SMOKE / "eia930_PJM_D_DF_2018-12_2019-04.parquet").select(
                "timestamp_utc", "region", "type", "value_mw")])
        return raw, pacw
    files = (FULL / "eia930_D_DF_6ba_2015_2019.parquet", FULL / "ruggles_screened_D_6ba_2015_2019.parquet")
    if missing := [str(path) for path in files if not path.exists()]:
        raise SystemExit(f"real data not found: {missing}; --smoke runs on the extract in tests/data")
    return pl.read_parquet(files[0]), pl.read_parquet(files[1])


def demand_grids(raw: pl.DataFrame, regions: list[str]) -> dict[str, pl.DataFrame]:
    """Each region's demand on consecutive hours from its first to its last reported one (null where none)."""
    grids = {}
    for region in regions:
        rows = raw.filter(pl.col("region") == region, pl.col("type") == "D").select("timestamp_utc", "value_mw")
        hours = pl.datetime_range(rows["timestamp_utc"].min(), rows["timestamp_utc"].max(), "1h", time_zone="UTC",
                                  eager=True)
        grids[region] = pl.DataFrame({"timestamp_utc": hours}).join(rows, on="timestamp_utc", how="left")
    return grids


def ours(grid: pl.DataFrame, runs: list[datetime], as_published: bool) -> pl.DataFrame:
    """``grid`` with our category per hour (one screening per run starting at each of ``runs``), our imputed
    value at every hour not OKAY, and linear interpolation between OKAY hours for comparison."""
    from energy_core.ops.screening import Category, ScreeningConfig, impute, screen

    config = ScreeningConfig(published_edges=as_published)
    bounds = [*runs, datetime.max.replace(tzinfo=UTC)]
    parts = []
    for start, end in itertools.pairwise(bounds):
        part = grid.filter(pl.col("timestamp_utc") >= start, pl.col("timestamp_utc") < end)
        if part.height == 0:
            continue
        values = part["value_mw"].fill_null(np.nan).to_numpy()
        categories = screen(values, config)
        okay, hours = categories == Category.OKAY, np.arange(len(values))
        parts.append(part.with_columns(ours=pl.Series([Category(c).name for c in categories]),
                                       imputed=pl.Series(impute(values, okay)).fill_nan(None),
                                       linear=pl.Series(np.interp(hours, hours[okay], values[okay]))))
    return pl.concat(parts)


def screened(raw: pl.DataFrame, published: pl.DataFrame, as_published: bool) -> pl.DataFrame:
    """Ours beside theirs, hour for hour, for every region both have."""
    regions = sorted(set(published["region"]) & set(raw.filter(pl.col("type") == "D")["region"]))
    joined = []
    for region, grid in demand_grids(raw, regions).items():
        first = grid["timestamp_utc"][0]
        runs = [first, THEIR_SECOND_RUN] if as_published and region in ("ERCO", "PACW") and \
            first < THEIR_SECOND_RUN else [first]
        mine = ours(grid, runs, as_published)
        if as_published:  # their runs went on past the end of this data, so its last two days are no end for them
            mine = mine.filter(pl.col("timestamp_utc") <= grid["timestamp_utc"][-1] - timedelta(hours=48))
        joined.append(published.filter(pl.col("region") == region).select(
            "timestamp_utc", "region", "category", "cleaned_demand_mw").join(mine, on="timestamp_utc"))
    return pl.concat(joined)


def agreement(raw: pl.DataFrame, published: pl.DataFrame, as_published: bool) -> dict:
    """Per flag category (and for any flag): hours they flag, we flag, both; precision and recall."""
    from energy_core.ops.screening import FLAGS

    started = time.perf_counter()
    both = screened(raw, published, as_published)
    seconds = time.perf_counter() - started
    table = {}
    names = [c.name for c in FLAGS]
    for name, theirs_, ours_ in [*((n, pl.col("category") == n, pl.col("ours") == n) for n in names),
                                 ("any flag", pl.col("category").is_in(names), pl.col("ours").is_in(names))]:
        counts = both.select(theirs=theirs_.sum(), ours=ours_.sum(), both=(theirs_ & ours_).sum()).row(0, named=True)
        counts["precision"] = counts["both"] / counts["ours"] if counts["ours"] else None
        counts["recall"] = counts["both"] / counts["theirs"] if counts["theirs"] else None
        table[name] = counts
    differ = (both.filter(pl.col("ours") != pl.col("category"))
              .group_by("region", "category", "ours").agg(hours=pl.len(), first=pl.col("timestamp_utc").min(),
                                                           last=pl.col("timestamp_utc").max()).sort("region", "first"))
    label = "as they ran it" if as_published else "one run per BA"
    print(f"\nscreening, {label}: {both.height} hours compared, {both['region'].n_unique()} BAs, "
          f"{seconds:.1f} s (screening and imputation)")
    print("| category | theirs | ours | both | precision | recall |\n|---|---|---|---|---|---|")
    for name, c in table.items():
        print(f"| {name} | {c['theirs']} | {c['ours']} | {c['both']} | {_ratio(c['precision'])} | "
              f"{_ratio(c['recall'])} |")
    for row in differ.iter_rows(named=True):
        print(f"  differs: {row['region']} theirs {row['category']}, ours {row['ours']}: {row['hours']} h, "
              f"{row['first']:%Y-%m-%d %H:%M} to {row['last']:%Y-%m-%d %H:%M} (hour ending, UTC)")
    return {"hours": both.height, "seconds": seconds, "categories": table, "differences": differ.to_dicts()}


def against_theirs(raw: pl.DataFrame, published: pl.DataFrame) -> dict:
    """Our imputed values against theirs at the hours both imputed, split into missing and flagged hours."""
    both = screened(raw, published, as_published=False).filter(
        pl.col("category") != "OKAY", pl.col("ours") != "OKAY", pl.col("imputed").is_not_null())
    result = {}
    print("\nimputation against theirs (MICE), at the hours both imputed; linear interpolation for scale")
    print("| hours | count | MAE (MW) | MAPE | median APE | linear MAE (MW) | linear MAPE |")
    print("|---|---|---|---|---|---|---|")
    for name, rows in (("missing", both.filter(pl.col("category") == "MISSING")),
                       ("flagged", both.filter(pl.col("category") != "MISSING")), ("all", both)):
        if rows.height == 0:
            continue
        theirs = rows["cleaned_demand_mw"].to_numpy()
        error, linear = _errors(rows["imputed"].to_numpy(), theirs), _errors(rows["linear"].to_numpy(), theirs)
        result[name] = {**error, "linear": linear}
        print(f"| {name} | {rows.height} | {error['mae']:.0f} | {error['mape']:.2f}% | {error['median_ape']:.2f}% | "
              f"{linear['mae']:.0f} | {linear['mape']:.2f}% |")
    per_region = {region: _errors(rows["imputed"].to_numpy(), rows["cleaned_demand_mw"].to_numpy())
                  for (region,), rows in both.group_by("region", maintain_order=True)}
    print("  per BA: " + ", ".join(f"{r} {e['mape']:.2f}% ({e['hours']} h)" for r, e in sorted(per_region.items())))
    result["per_region"] = per_region
    return result


def hidden(raw: pl.DataFrame, published: pl.DataFrame, trials: int, seed: int) -> dict:
    """Blocks of OKAY hours hidden at seeded random places, imputed by ours and by linear interpolation."""
    from energy_core.ops.screening import Category, impute, screen

    rng = np.random.default_rng(seed)
    regions = sorted(set(published["region"]) & set(raw.filter(pl.col("type") == "D")["region"]))
    errors: dict[int, dict[str, list[np.ndarray]]] = {n: {"profile": [], "linear": [], "truth": []} for n in LENGTHS}
    for grid in demand_grids(raw, regions).values():
        values = grid["value_mw"].fill_null(np.nan).to_numpy()
        usable = screen(values) == Category.OKAY
        hours = np.arange(len(values))
        for length in LENGTHS:
            placed = 0
            for _ in range(trials * 50):
                if placed == trials:
                    break
                start = int(rng.integers(0, len(values) - length))
                block = slice(start, start + length)
                if not usable[block].all():
                    continue
                placed += 1
                kept = usable.copy()
                kept[block] = False
                errors[length]["profile"].append(impute(values, kept)[block])
                errors[length]["linear"].append(np.interp(hours[block], hours[kept], values[kept]))
                errors[length]["truth"].append(values[block])
    result = {}
    print(f"\nimputation against hidden hours ({trials} blocks per length and BA, seed {seed})")
    print("| block | hours | profile MAE (MW) | profile MAPE | linear MAE (MW) | linear MAPE |")
    print("|---|---|---|---|---|---|")
    for length, found in errors.items():
        truth = np.concatenate(found["truth"])
        ours_, linear = (_errors(np.concatenate(found[k]), truth) for k in ("profile", "linear"))
        result[length] = {"hours": len(truth), "profile": ours_, "linear": linear}
        print(f"| {length} h | {len(truth)} | {ours_['mae']:.0f} | {ours_['mape']:.2f}% | {linear['mae']:.0f} | "
              f"{linear['mape']:.2f}% |")
    return result


def misstamp(raw: pl.DataFrame) -> list[dict]:
    """The mis-stamp check on each region's day-ahead forecast (DF) against its demand (D)."""
    from energy_core.ops.quality import misstamped

    frame = raw.select(dataset=pl.lit("eia.region"), region="region",
                       series=pl.col("type").replace_strict({"D": "demand", "DF": "demand_forecast"}),
                       ts=pl.col("timestamp_utc") - pl.duration(hours=1), value="value_mw").sort("ts")
    started = time.perf_counter()
    flags = misstamped(frame)
    print(f"\nmis-stamp check over {frame['region'].n_unique()} BAs' D and DF: {len(flags)} flag(s), "
          f"{time.perf_counter() - started:.2f} s")
    for flag in flags.iter_rows(named=True):
        print(f"  {flag['region']} {flag['series']} {flag['start']:%Y-%m-%d %H:%M} to {flag['end']:%Y-%m-%d %H:%M} "
              f"(interval start, UTC): {flag['detail']}")
    return flags.to_dicts()


def check(results: dict, smoke: bool) -> None:
    """Stop unless: as they ran it, every category agrees exactly; a user's run flags nothing they did not;
    the profile beats linear interpolation on hidden blocks of 3 hours and more; PJM's DF is found stamped an
    hour early from February 2019 and no other series is flagged."""
    exact = results["agreement_as_published"]["categories"]
    failures = [f"as published, {name}: precision {c['precision']}, recall {c['recall']}"
                for name, c in exact.items() if c["theirs"] and (c["precision"] != 1.0 or c["recall"] != 1.0)]
    failures += [f"one run per BA, {name}: precision {c['precision']}"
                 for name, c in results["agreement"]["categories"].items() if c["ours"] and c["precision"] != 1.0]
    failures += [f"hidden {n} h blocks: profile {r['profile']['mape']:.2f}% >= linear {r['linear']['mape']:.2f}%"
                 for n, r in results["hidden"].items() if n >= 3 and r["profile"]["mape"] >= r["linear"]["mape"]]
    flags = results["misstamp"]
    if [(f["region"], f["series"], f["start"].strftime("%Y-%m")) for f in flags] != \
            [("PJM", "demand_forecast", "2019-02")] or "stamped 1 h early" not in flags[0]["detail"]:
        failures.append(f"mis-stamp flags: {[(f['region'], f['start'], f['detail']) for f in flags]}")
    if failures:
        raise SystemExit("checks failed:\n" + "\n".join(failures))
    print(f"\n{'smoke ' if smoke else ''}checks passed: every published category reproduced as they ran it, "
          "no flag of ours they lack, the profile beats linear interpolation from 3 hours up, PJM's DF found "
          "stamped an hour early from 2019-02")


def _errors(estimate: np.ndarray, truth: np.ndarray) -> dict:
    error = np.abs(estimate - truth)
    return {"hours": len(truth), "mae": float(error.mean()), "mape": float((error / truth).mean() * 100),
            "median_ape": float(np.median(error / truth) * 100)}


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    main()
