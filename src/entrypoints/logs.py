"""Logging with structlog: JSON lines in production, readable lines in development.

Standard-library records (uvicorn, alembic, SQLAlchemy) go through the same processors,
so every line carries the request id bound for the current request.
"""

from __future__ import annotations

import logging
import sys

import structlog
from structlog.types import Processor

from entrypoints.settings import Settings


def configure_logging(settings: Settings) -> None:
    """Route every log line through structlog; safe to call more than once."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: Processor
    if settings.json_logs:
        # Not dict_tracebacks: it would print frame locals, and locals hold secrets.
        shared.append(
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
        )
        renderer = structlog.processors.JSONRenderer()
    else:
        # Plain tracebacks: the default rich ones print frame locals, and locals hold secrets.
        renderer = structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # uvicorn's own handlers would print every line twice; let them reach ours instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)  # we log requests ourselves
    # Alembic announces its dialect each time a revision is read (every /readyz): noise.
    quiet = logging.DEBUG if settings.log_level == "DEBUG" else logging.WARNING
    logging.getLogger("alembic.runtime.migration").setLevel(quiet)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Drivers log statements with their parameters (SQLAlchemy at INFO, aiosqlite at DEBUG),
    # and parameters include outbox email bodies, so sign-in links: never below WARNING,
    # whatever LOG_LEVEL says.
    floor = max(logging.WARNING, logging.getLevelNamesMapping()[settings.log_level])
    for name in ("aiosqlite", "asyncpg", "sqlalchemy.engine", "aiosmtplib"):
        logging.getLogger(name).setLevel(floor)
