"""The CLI's one mapping table: saascore errors to exit codes and one-line messages."""

from __future__ import annotations

from typing import Any

import click

from adapters.sql.backup import BackupRefused
from entrypoints.settings import SettingsError
from saascore import errors

EXIT_CONFIG = 3
EXIT_BACKUP_REFUSED = 16
# Order matters: the first class an error is an instance of wins.
EXIT_CODES: tuple[tuple[type[errors.SaasCoreError], int], ...] = (
    (errors.NotFound, 4),
    (errors.PermissionDenied, 5),
    (errors.Conflict, 6),
    (errors.InvalidInput, 7),
    (errors.LimitExceeded, 8),
    (errors.TokenInvalid, 9),
    (errors.ExternalServiceError, 10),
    (errors.BillingNotConfigured, 11),
    (errors.NotAuthenticated, 12),
    (errors.Gone, 13),
    (errors.WebhookRejected, 15),
    (BackupRefused, EXIT_BACKUP_REFUSED),
)


class CliError(click.ClickException):
    """A failure reported as one line on stderr with a chosen exit code."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click reads it per instance


def exit_code_for(exc: errors.SaasCoreError) -> int:
    return next((code for cls, code in EXIT_CODES if isinstance(exc, cls)), 1)


class MappedGroup(click.Group):
    """A click group that reports saascore and settings errors as one line and an exit code,
    never as a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SettingsError as exc:
            raise CliError("; ".join(exc.problems), EXIT_CONFIG) from exc
        except errors.SaasCoreError as exc:
            raise CliError(exc.message, exit_code_for(exc)) from exc
