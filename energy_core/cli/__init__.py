"""The ``energy`` command line. Commands come from plugins (the built-ins too); this module is the
only place where errors become exit codes."""

from __future__ import annotations

import gc
import logging
import shlex
import sys
import warnings
from pathlib import Path

import click

from energy_core.cli.settings import CONFIG_VARIABLE, DEFAULT_FILE, EnergyConfig, default_map, find, load
from energy_core.errors import EnergyError
from energy_core.ingest.redaction import RedactingFilter, redact
from energy_core.plugin.manager import EnergyPluginManager, get_plugin_manager

EXIT_FAILURE = 1


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Log at DEBUG level and show tracebacks on errors.")
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help=f"Settings file (default: ${CONFIG_VARIABLE}, else ./{DEFAULT_FILE} when present).")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: bool, config_path: Path | None) -> None:
    """Ingest, validate, store and fuse electricity-grid data."""
    configure_logging(logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING)
    config = load(find(config_path))
    ctx.ensure_object(dict)["config"] = config
    ctx.default_map = default_map(config, cli)


def user_config(ctx: click.Context) -> EnergyConfig:
    """The settings file the group loaded (empty when there is none)."""
    return ctx.find_root().obj.get("config") or EnergyConfig()


def configure_logging(level: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)


def plugin_manager(ctx: click.Context) -> EnergyPluginManager:
    """The plugin manager ``main`` loaded, for commands that need the registry."""
    return ctx.find_root().obj["plugin_manager"]


def command_line(ctx: click.Context) -> str:
    """The command as the user typed it (secrets never travel in arguments, but redact anyway)."""
    return redact(shlex.join(["energy", *ctx.find_root().obj.get("argv", [])]))


def main(argv: list[str] | None = None) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pm = get_plugin_manager()
    for warning in caught:
        click.echo(f"warning: {warning.message}", err=True)
    pm.hook.register_commands(cli=cli)
    gc.freeze()  # everything imported so far lives for the whole process; stop rescanning it
    try:
        cli.main(args=argv, prog_name="energy", standalone_mode=False,
                 obj={"plugin_manager": pm, "argv": list(sys.argv[1:] if argv is None else argv)})
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except EnergyError as exc:
        if "--debug" in (argv if argv is not None else sys.argv):
            import traceback

            click.echo(redact("".join(traceback.format_exception(exc))), err=True)
        click.echo(f"error: {redact(str(exc))}", err=True)
        sys.exit(getattr(exc, "exit_code", EXIT_FAILURE))
