"""The Redis server tests may use: named by SAASCORE_TEST_REDIS_URL, required in CI.

Tests never flush anything: each one makes its own random policy names (``unique_name``), so
its counters cannot meet another test's or anybody else's keys, and they expire with the window.
"""

from __future__ import annotations

import functools
import os
import uuid

import pytest
import redis
from redis.exceptions import RedisError

from tests.support.databases import in_ci

REDIS_ENV = "SAASCORE_TEST_REDIS_URL"


def redis_url() -> str:
    """The Redis URL tests may use, or skip (fail in CI: Redis tests are required)."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        if in_ci():
            pytest.fail(f"{REDIS_ENV} is not set: CI must run the Redis tests")
        pytest.skip(f"set {REDIS_ENV} to run the Redis tests")
    problem = _unreachable(url)
    if problem:
        # It was asked for by name, so a dead server is an error locally too (as for Postgres).
        pytest.fail(f"{REDIS_ENV} names a server that cannot be reached: {problem}")
    return url


@functools.cache
def _unreachable(url: str) -> str:
    """Why the server cannot be reached, or "" when it answers a PING (asked once per run)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except (RedisError, OSError) as exc:
        return str(exc) or type(exc).__name__
    finally:
        client.close()
    return ""


def unique_name(label: str = "policy") -> str:
    """A policy name no other test (or process) uses."""
    return f"test-{label}-{uuid.uuid4().hex[:12]}"
