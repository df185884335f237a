"""``saascore serve`` and ``saascore dev``."""

from __future__ import annotations

import asyncio

import click
import uvicorn
from attrs import evolve

from adapters.sql import migrate
from entrypoints.bootstrap import Services, bootstrap
from entrypoints.cli.common import settings, with_services
from entrypoints.cli.db import seed_services
from entrypoints.settings import Settings
from entrypoints.web import create_app
from saascore.errors import PermissionDenied

HOST_OPTION = click.option("--host", help="Address to listen on [default: HOST, 127.0.0.1].")
PORT_OPTION = click.option(
    "--port", type=click.IntRange(1, 65535), help="Port to listen on [default: PORT, 8000]."
)


def _listening(current: Settings, host: str | None, port: int | None) -> Settings:
    """Settings for a server on ``host``:``port``: when BASE_URL was left at its default,
    it follows, so emailed links and the Origin check name the address really served."""
    host, port = host or current.host, port or current.port
    if current.base_url != Settings().base_url or host in ("0.0.0.0", "::"):  # noqa: S104
        return evolve(current, host=host, port=port)
    return evolve(current, host=host, port=port, base_url=f"http://{host}:{port}")


def _serve(current: Settings, services: Services | None = None) -> None:
    uvicorn.run(
        create_app(services or current),
        host=current.host,
        port=current.port,
        log_config=None,  # structlog owns logging
        # The app decides which proxies to trust; uvicorn would trust 127.0.0.1 blindly.
        proxy_headers=False,
        server_header=False,
    )


@click.command()
@HOST_OPTION
@PORT_OPTION
def serve(host: str | None, port: int | None) -> None:
    """Serve the web app (migrate first with `saascore db upgrade`)."""
    _serve(_listening(settings(), host, port))


async def _empty(services: Services) -> bool:
    async with services.reader() as uow:
        return not await uow.users.list(limit=1)


@click.command()
@HOST_OPTION
@PORT_OPTION
def dev(host: str | None, port: int | None) -> None:
    """Run locally: migrate, load demo data into an empty database, serve."""
    current = _listening(settings(), host, port)
    if current.is_production:
        raise PermissionDenied("`saascore dev` is for development; use `saascore serve`")
    if current.uses_memory_database:
        # memory:// lives in this process: seed the very services the server will use.
        services = bootstrap(current)
        report = asyncio.run(seed_services(services))
        click.echo(f"loaded demo data: {report.users} users, {report.workspaces} workspaces")
        click.echo(f"saascore is running at {current.base_url} (demo user: founder@example.com)")
        _serve(current, services)
        return
    migrate.upgrade(current.database_url)
    if with_services(_empty):
        report = with_services(seed_services)
        click.echo(f"loaded demo data: {report.users} users, {report.workspaces} workspaces")
    click.echo(f"saascore is running at {current.base_url} (demo user: founder@example.com)")
    _serve(current)
