"""``saascore config check``: is this configuration fit to run, and if not, what to change."""

from __future__ import annotations

import click

from entrypoints.cli.common import print_json, run_async
from entrypoints.cli.configcheck import check, shown
from entrypoints.cli.errors import EXIT_CONFIG


@click.group()
def config() -> None:
    """Check the configuration (settings from the environment and .env)."""


@config.command("check")
@click.option("--show", is_flag=True, help="Also print the effective settings, secrets redacted.")
def config_check(show: bool) -> None:
    """Run every check; each problem comes with its fix. Exits 3 on any error."""
    findings, settings = run_async(check())
    for finding in findings:
        click.echo(finding.line())
    if show and settings is not None:
        print_json(shown(settings))
    errors = sum(1 for f in findings if f.level == "error")
    if errors:
        click.echo(f"{errors} error(s): the app should not start like this", err=True)
        raise SystemExit(EXIT_CONFIG)
