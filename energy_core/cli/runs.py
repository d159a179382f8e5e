"""``energy runs``: recorded training runs side by side (reads JSON only: no ML library is loaded)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import click

from energy_core.cli.options import home_option
from energy_core.home import Home


@click.command("runs")
@click.argument("run_ids", nargs=-1, metavar="[RUN]...")
@click.option("--entity", "entities", multiple=True, help="Only this entity's runs (repeatable).")
@click.option("--last", default=20, show_default=True, help="How many of the newest runs to list (0: all).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: every run's data and code versions, full "
              "configuration, the settings that differ, each epoch's metrics and the evaluations.")
@home_option
def runs_command(run_ids: tuple[str, ...], entities: tuple[str, ...], last: int, as_json: bool, home: Home) -> None:
    """Training runs side by side: data version, the settings that differ, and the scores.

    \b
    RUN: run ids (or unique prefixes) to compare; default the newest runs.
    The validation scores come with each training, the test scores from `energy evaluate`;
    `energy train --from-run RUN` replays a run.
    """
    from energy_core.ops.runs import compare

    comparison = compare(home, run_ids, entities, last or None)
    if as_json:
        click.echo(json.dumps({"differing": comparison.differing, "runs": comparison.runs}, indent=2))
        return
    if not comparison.runs:
        click.echo(f"no training runs recorded under {home}; `energy train` records each one")
        return
    rows = [_cells(run) for run in comparison.runs]
    header = ["run", "entity", "status", "epochs", "data", "code", "changed", "best val loss", "val MAPE",
              "test MAPE", "vs baseline"]
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(len(header))]
    for line in [header, *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    if any("*" in row[9] for row in rows):
        click.echo("* scored on a newer feature-store build than the run trained on")


def _cells(run: Mapping[str, Any]) -> list[str]:
    data, code, scores = run["data"], run["code"], run["evaluations"]
    commit = (code["git_commit"] or "")[:8] + ("+" if code["git_dirty"] else "")
    changed = " ".join(f"{key}={_short(value)}" for key, value in run["changes"].items())
    if run["replay_of"]:
        changed = f"replay of {run['replay_of']}" + (f": {changed}" if changed else "")
    best = run["best_val_loss"]
    headline = scores.get("test") or scores.get("val")
    return [run["run_id"], run["entity"], run["status"], f"{run['epochs']}/{run['planned_epochs']}",
            f"b{data['build']} v{data['table_version']}", commit or code["energy-core"] or "", changed or "-",
            "-" if best is None else f"{best:.4f}", _mape(scores.get("val"), data), _mape(scores.get("test"), data),
            _gain(headline)]


def _mape(evaluation: Mapping[str, Any] | None, data: Mapping[str, Any]) -> str:
    if not evaluation:
        return "-"
    newer = evaluation.get("build") not in (None, data["build"])
    return f"{evaluation['scores']['model']['mape']:.2f}%" + ("*" if newer else "")


def _gain(evaluation: Mapping[str, Any] | None) -> str:
    if not evaluation or evaluation["gain"] is None:
        return "-"
    return f"{evaluation['gain']:+.1f}% ({evaluation['split']}, {evaluation['best_baseline']})"


def _short(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, list | dict) else str(value)
    return text if len(text) <= 32 else text[:29] + "..."
