"""What the commands share: settings, services and running async code."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any, TypeVar

import click

from entrypoints.bootstrap import Services, bootstrap
from entrypoints.logs import configure_logging
from entrypoints.settings import Settings, load_settings

T = TypeVar("T")


def settings() -> Settings:
    """Load settings from the environment once per command and set up logging."""
    context = click.get_current_context()
    loaded: Settings | None = context.meta.get("saascore.settings")
    if loaded is None:
        loaded = load_settings()
        configure_logging(loaded)
        context.meta["saascore.settings"] = loaded
    return loaded


def with_services(work: Callable[[Services], Awaitable[T]]) -> T:
    """Bootstrap services, run ``work`` on them in a fresh event loop, release them."""

    async def run() -> T:
        services = bootstrap(settings())
        try:
            return await work(services)
        finally:
            await services.aclose()

    return run_async(run())


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def printable(text: str) -> str:
    """``text`` with every character a terminal would act on (ESC, BEL, bidi overrides...)
    shown escaped, so data can never rewrite an operator's screen."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print rows as aligned columns, control characters escaped."""
    text_rows = [[printable(str(cell)) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text_rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    for row in [list(headers), *text_rows]:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))
