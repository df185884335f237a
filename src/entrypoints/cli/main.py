"""The ``saascore`` command."""

from __future__ import annotations

import click

from entrypoints.cli.audit import audit
from entrypoints.cli.billing import billing
from entrypoints.cli.config import config
from entrypoints.cli.db import db
from entrypoints.cli.errors import MappedGroup
from entrypoints.cli.invites import invites
from entrypoints.cli.mail import email, outbox
from entrypoints.cli.server import dev, serve
from entrypoints.cli.users import users
from entrypoints.cli.workspaces import workspaces
from saascore import __version__


@click.group(cls=MappedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="saascore")
def cli() -> None:
    """saascore: run and administer the app. Settings come from the environment and .env."""


COMMANDS = (db, users, workspaces, invites, audit, billing, config, outbox, email)
for command in (*COMMANDS, serve, dev):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="saascore")
