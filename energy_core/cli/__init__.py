"""The ``energy`` command line. Commands come from plugins (the built-ins too); this module is the
only place where errors become exit codes."""

from __future__ import annotations

import gc
import logging
import os
import shlex
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import click

from energy_core.allocator import keep_large_buffers
from energy_core.cli.extras import missing_extra
from energy_core.cli.settings import CONFIG_VARIABLE, DEFAULT_FILE, default_map, find, load
from energy_core.errors import EnergyError
from energy_core.ingest.redaction import RedactingFilter, SecretScope, redact, secrets_in
from energy_core.plugin.manager import EnergyPluginManager, get_plugin_manager
from energy_core.plugin.registry import declared_settings

if TYPE_CHECKING:
    from energy_core.cli.config_schema import EnergyConfig
    from energy_core.plugin.contributions import Setting

EXIT_FAILURE = 1


def build_cli(pm: EnergyPluginManager) -> click.Group:
    """A new ``energy`` group holding every command the plugins of ``pm`` register (the built-ins too)."""

    def show_versions(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if value and not ctx.resilient_parsing:
            from energy_core.cli.versions import versions

            click.echo(versions(pm))
            ctx.exit()

    @click.group("energy", context_settings={"help_option_names": ["-h", "--help"]})
    @click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=show_versions,
                  help="Print the versions of energy-core and of each plugin, and exit.")
    @click.option("--debug", is_flag=True, help="Log at DEBUG level and show tracebacks on errors.")
    @click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
    @click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
                  help=f"Settings file (default: ${CONFIG_VARIABLE}, else ./{DEFAULT_FILE} when present).")
    @click.pass_context
    def energy(ctx: click.Context, debug: bool, verbose: bool, config_path: Path | None) -> None:
        """Ingest, validate, store and fuse electricity-grid data."""
        configure_logging(logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING)
        path = find(config_path)
        if path is not None:  # only reading a file needs pydantic, which takes a tenth of a second to load
            config = ctx.ensure_object(dict)["config"] = load(path, lambda: declared_settings(pm))
            ctx.default_map = default_map(config, energy)

    pm.hook.register_commands(cli=energy)
    return energy


def user_config(ctx: click.Context) -> EnergyConfig:
    """The settings file the group loaded (empty when there is none)."""
    config = ctx.find_root().obj.get("config")
    return config if config is not None else load(None)


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


def _declared_settings(pm: EnergyPluginManager) -> list[Setting]:
    """The plugins' declared settings; a plugin whose hook fails is named, and the command goes on."""
    try:
        return declared_settings(pm)
    except Exception as exc:  # a broken plugin must not take every command down
        click.echo(f"warning: a plugin's register_settings failed ({type(exc).__name__}: {exc}); its secret "
                   "settings are redacted only if their names end in _KEY, _TOKEN, _SECRET or _PASSWORD", err=True)
        return []


def main(argv: list[str] | None = None) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pm = get_plugin_manager()
    for warning in caught:
        click.echo(f"warning: {warning.message}", err=True)
    cli = build_cli(pm)
    gc.freeze()  # everything imported so far lives for the whole process; stop rescanning it
    keep_large_buffers()
    declared = [os.environ.get(s.variable) for s in _declared_settings(pm) if s.secret]
    args = list(sys.argv[1:] if argv is None else argv)
    with SecretScope([*secrets_in(os.environ), *filter(None, declared)]):  # every credential, redacted from all output
        try:
            try:
                cli.main(args=argv, prog_name="energy", standalone_mode=False,
                         obj={"plugin_manager": pm, "argv": args})
            except ModuleNotFoundError as exc:  # an optional library: say which extra brings it
                if (error := missing_extra(exc, next((a for a in args if a in cli.commands), None))) is None:
                    raise
                raise error from exc
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
