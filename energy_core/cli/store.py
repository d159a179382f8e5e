"""``energy store``: look after the processed store (the lake): migrate an old home into it, vacuum it."""

from __future__ import annotations

import click

from energy_core.cli.options import home_option
from energy_core.home import LOCAL_HOME_VARIABLE, Home


@click.group("store")
def store_group() -> None:
    """Manage the processed store: one Delta Lake table per dataset under <home>/lake."""


@store_group.command("migrate")
@home_option
def migrate_command(home: Home) -> None:
    """Move a store of energy 0.2 into the lake, checking every row.

    Converts <home>/processed/<dataset>/year=YYYY/month=MM/data.parquet into the lake, checks that every
    old row reads back unchanged, then keeps the old folder as processed.migrated-<time>. Safe to run
    again: after an interruption it writes only the months not yet written.
    """
    from energy_core.ops.migrate import migrate

    done = migrate(home, progress=lambda line: click.echo(line, err=True))
    if done is None:
        hint = f" (for a lake on object storage, the old home is {LOCAL_HOME_VARIABLE})" if home.lake else ""
        click.echo(f"nothing to migrate: {home.legacy_processed} holds no store in the layout of energy 0.2{hint}")
        return
    already = done.months - done.commits
    click.echo(f"migrated {len(done.datasets)} dataset(s) ({', '.join(done.datasets)}), {done.months} month(s), "
               f"{done.rows:,} rows into {home.processed} in {done.seconds:.1f} s ({done.commits} month(s) written"
               f"{f', {already} already there' if already else ''}); every row checked against the lake")
    click.echo(f"the old store is kept at {done.kept_at}: delete it once you no longer need it")


@store_group.command("repair")
@home_option
def repair_command(home: Home) -> None:
    """Take damaged or missing data files out of the lake's tables.

    A data file the log names may be lost or cut short after the commit (a power cut, a bad disk, a bad
    copy of the home): the lake then refuses to read that table. This removes such files from their tables
    (kept beside as *.damaged) so the rest reads again; fetch their months again with `energy run
    --full-refresh` (the raw cache replays what it holds)."""
    from energy_core.storage.lake import Lake
    from energy_core.storage.lock import StoreLock

    with StoreLock(home.processed_lock):
        repaired = Lake(home).repair()
    if not repaired:
        click.echo(f"every data file of {home.processed} is whole")
        return
    for dataset, files in repaired.items():
        months = sorted({"-".join(part.split("=")[1].zfill(2) for part in f.parent.parts[-2:]) for f in files})
        click.echo(f"{dataset}: took {len(files)} damaged file(s) out; fetch again: {', '.join(months)}")


@store_group.command("vacuum")
@click.option("--retention-hours", type=click.IntRange(min=0), default=168, show_default=True,
              help="Delete only files that left the tables at least this long ago.")
@click.option("--dataset", "datasets", multiple=True, help="Only this dataset (repeatable). Default: all.")
@click.option("--apply", is_flag=True, help="Delete the files (default: only list what would be deleted).")
@click.option("--allow-short-retention", is_flag=True,
              help="Accept a retention under 168 hours (a writer on another machine may still need newer files).")
@home_option
def vacuum_command(retention_hours: int, datasets: tuple[str, ...], apply: bool, allow_short_retention: bool,
                   home: Home) -> None:
    """List, or with --apply delete, files the tables no longer use.

    Deletes the files of replaced months that left their table more than the retention ago, and files no
    commit ever took in (a writer that died). Every revision of a value is kept in rows, so reads as of any
    time are unaffected; only Delta time travel to table versions older than the retention is lost."""
    from energy_core.ops.vacuum import vacuum

    swept = vacuum(home, retention_hours=retention_hours, datasets=datasets or None, apply=apply,
                   allow_short_retention=allow_short_retention)
    verb = "deleted" if apply else "would delete"
    for dataset, files in swept.items():
        click.echo(f"{dataset}: {verb} {len(files)} file(s)")
        for name in files if not apply else ():
            click.echo(f"  {name}")
    total = sum(len(files) for files in swept.values())
    click.echo(f"{verb} {total} file(s) older than {retention_hours} h in {len(swept)} table(s)"
               f"{'' if apply or not total else '; run again with --apply to delete them'}")
