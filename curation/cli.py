"""The ``curation`` command. Each sub-command lives beside the code it drives and imports its
heavy dependencies inside the command, so ``curation --help`` stays fast."""

from __future__ import annotations

import importlib
import logging
import sys

import click

from .errors import ConfigError, CurationError

__all__ = ["LazyGroup", "main"]

# name -> "module:attribute" of a click command
COMMANDS = {
    "init": "curation.run.cli:init",
    "run": "curation.run.cli:run",
    "demo": "curation.demo.cli:demo",
    "dictionary": "curation.dictionary.cli:dictionary",
    "scan-phi": "curation.deid.cli:scan_phi",
    "verify": "curation.security.cli:verify",
    "history": "curation.security.cli:history",
    "package": "curation.security.cli:package",
    "unpack": "curation.security.cli:unpack",
    "export": "curation.export.cli:export",
    "decide": "curation.decisions.cli:decide",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        """The subcommands' names, without importing any of them."""
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The subcommand ``cmd_name``, imported only now (``curation --help`` stays fast)."""
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            msg = f"`curation {cmd_name}` is not available in this installation ({exc})"
            raise click.ClickException(msg) from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="curation")
@click.option("-v", "--verbose", is_flag=True, help="debug logging")
def cli(verbose: bool) -> None:
    """Curate a multimodal tumor cohort: de-identify, standardize, check and report."""
    from .deid.logs import install_redacting_handler

    install_redacting_handler(level=logging.DEBUG if verbose else logging.INFO)


def main() -> None:
    """Console entry point: configuration errors exit 2 with one clear message, no traceback."""
    try:
        rv = cli.main(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except CurationError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
