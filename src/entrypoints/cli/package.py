"""``saascore package``: the offline deployment bundle, built from a source checkout.

``saascore package`` builds it (entrypoints/packaging.py says what is in it);
``saascore package verify ZIP`` exits 17 when a file does not match its SHA256SUMS.
"""

from __future__ import annotations

from pathlib import Path

import click

from entrypoints.cli.errors import CliError
from entrypoints.packaging import SUMS, PackagingError, build_bundle, verify_bundle

EXIT_BUILD_FAILED = 1
EXIT_VERIFY_FAILED = 17


@click.group(invoke_without_command=True)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the ZIP (default: dist/ in the checkout).",
)
@click.pass_context
def package(ctx: click.Context, out: Path | None) -> None:
    """Build saascore-<version>-<commit>.zip for offline deployment: the wheel, the
    migrations, the docs, the pinned requirements.lock and SHA256SUMS. Run it in a git
    clone; the same commit gives the same bytes. Prints the ZIP's path and sha256."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        bundle = build_bundle(Path.cwd(), out)
    except PackagingError as exc:
        raise CliError(str(exc), EXIT_BUILD_FAILED) from exc
    for warning in bundle.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"wrote {bundle.path} ({bundle.files} files and {SUMS})")
    click.echo(f"sha256 {bundle.sha256}")


@package.command()
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def verify(bundle: Path) -> None:
    """Recompute the checksums in the bundle's SHA256SUMS. Prints "ok: N files verified",
    or one line per file that does not match, is missing or is not listed, and exits 17."""
    try:
        result = verify_bundle(bundle)
    except PackagingError as exc:
        raise CliError(str(exc), EXIT_VERIFY_FAILED) from exc
    if result.problems:
        for problem in result.problems:
            click.echo(problem)
        count = len(result.problems)
        raise CliError(f"{bundle.name} failed verification: {count} problem(s)", EXIT_VERIFY_FAILED)
    click.echo(f"ok: {result.checked} files verified")
