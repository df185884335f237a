"""Logs: JSON lines in production with the request id, and never a frame's locals."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from entrypoints.logs import configure_logging
from entrypoints.settings import Settings


def fail_with_a_secret_in_scope() -> None:
    api_key = "sk_live_secret_in_a_local"  # noqa: F841 - the point is that it stays unseen
    raise RuntimeError("boom")


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_tracebacks_never_show_locals(log_format: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A logged exception shows where it happened, not the values in scope."""
    configure_logging(Settings(log_format=log_format))  # type: ignore[arg-type]
    try:
        fail_with_a_secret_in_scope()
    except RuntimeError:
        structlog.get_logger("test").exception("failed")

    err = capsys.readouterr().err
    assert "fail_with_a_secret_in_scope" in err
    assert "sk_live_secret_in_a_local" not in err


def test_json_lines_carry_the_bound_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    """In production every line is JSON, and stdlib loggers get the request id too."""
    configure_logging(Settings(log_format="json"))
    with structlog.contextvars.bound_contextvars(request_id="req-1"):
        structlog.get_logger("saascore.test").info("hello", n=1)
        logging.getLogger("somelib").warning("from stdlib")

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["event"], line["request_id"], line["level"]) for line in lines] == [
        ("hello", "req-1", "info"),
        ("from stdlib", "req-1", "warning"),
    ]
