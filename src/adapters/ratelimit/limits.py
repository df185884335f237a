"""The ``RateLimiter`` port on the ``limits`` library: moving windows in memory or in Redis.

``memory://`` keeps the counters in this process (one machine, one process). ``redis://`` and
``rediss://`` keep them in Redis, so several app processes share one budget per key: the
``limits`` Lua scripts check and record a hit in one atomic step.

Nothing connects at import or construction time; the first hit opens the Redis connection.
"""

from __future__ import annotations

import importlib.util
import math
import time
from typing import Any
from urllib.parse import quote

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import ConfigurationError, StorageError

from saascore.errors import ExternalServiceError
from saascore.models import RateDecision, RateLimit

SUPPORTED_SCHEMES = ("memory", "redis", "rediss")
NAMESPACE = "saascore"

# Whatever a storage raises when it cannot answer. TimeoutError and ConnectionError are
# OSErrors; StorageError is what limits wraps driver errors in (wrap_exceptions=True).
_STORAGE_ERRORS: tuple[type[Exception], ...] = (StorageError, ConfigurationError, OSError)
REDIS_MISSING = "redis:// rate limits need the Redis driver: pip install 'saascore[redis]'"


def redis_available() -> bool:
    return importlib.util.find_spec("redis") is not None


def _scheme_and_rest(storage_url: str) -> tuple[str, str]:
    """Split ``[async+]scheme://rest`` into ``scheme`` and ``rest``, or raise ``ValueError``."""
    scheme, separator, rest = storage_url.removeprefix("async+").partition("://")
    if not separator or scheme not in SUPPORTED_SCHEMES:
        shown = storage_url.split("://", 1)[0] if "://" in storage_url else storage_url
        raise ValueError(
            f"unsupported rate limit storage {shown!r}: use memory:// or "
            "redis://host:port/db (rediss:// for TLS)"
        )
    return scheme, rest


def _item(limit: RateLimit) -> RateLimitItemPerSecond:
    return RateLimitItemPerSecond(limit.limit, limit.window_seconds)


def _identifiers(limit: RateLimit, key: str) -> tuple[str, str, str]:
    # limits joins identifiers with "/": escape it so ("a/b", "c") and ("a", "b/c") never
    # share a counter. The policy name is part of the key so two policies never do either.
    return NAMESPACE, quote(limit.name, safe="@:+"), quote(key, safe="@:+")


class LimitsRateLimiter:
    """A moving-window ``RateLimiter`` on ``limits``, with counters in memory or Redis.

    ``storage_url`` is ``memory://``, ``redis://host:port/db`` or ``rediss://…`` (an
    ``async+`` prefix is accepted too); anything else raises ``ValueError``. ``timeout`` bounds
    each Redis connect and command, so a hung server fails a hit instead of hanging it.
    """

    def __init__(self, storage_url: str, *, timeout: float = 2.0) -> None:
        scheme, rest = _scheme_and_rest(storage_url)
        self._pool: Any = None
        self._errors = _STORAGE_ERRORS
        storage: Storage
        if scheme == "memory":
            storage = MemoryStorage()
        else:
            if not redis_available():
                raise ValueError(REDIS_MISSING)
            from redis.asyncio import ConnectionPool  # noqa: PLC0415 - an optional extra
            from redis.exceptions import RedisError  # noqa: PLC0415

            self._errors = (*_STORAGE_ERRORS, RedisError)
            # Our own redis-py pool (not coredis, limits' default client) so we can set
            # timeouts and close it in aclose().
            self._pool = ConnectionPool.from_url(
                f"{scheme}://{rest}", socket_connect_timeout=timeout, socket_timeout=timeout
            )
            # limits types its options as scalars, but hands connection_pool to redis-py.
            options: dict[str, Any] = {"connection_pool": self._pool}
            storage = RedisStorage(
                f"async+{scheme}://{rest}",
                wrap_exceptions=True,
                implementation="redispy",
                **options,
            )
        self._storage = storage
        self._limiter = MovingWindowRateLimiter(storage)

    async def hit(self, limit: RateLimit, key: str) -> RateDecision:
        """Count one hit for ``key`` under ``limit``; a refused hit is not counted.

        Raises ``ExternalServiceError`` when the counter storage cannot be reached.
        """
        item, identifiers = _item(limit), _identifiers(limit, key)
        try:
            allowed = await self._limiter.hit(item, *identifiers)
            stats = await self._limiter.get_window_stats(item, *identifiers)
        except self._errors as exc:
            raise ExternalServiceError("rate limit storage unavailable") from exc
        remaining = max(0, stats.remaining)
        if allowed:
            return RateDecision(True, limit.limit, remaining, 0)
        # reset_time is when the oldest hit in the window leaves it (epoch seconds). It may
        # already have passed by the time we ask; the caller still has to come back later.
        reset_after = max(1, min(math.ceil(stats.reset_time - time.time()), limit.window_seconds))
        return RateDecision(False, limit.limit, remaining, reset_after)

    async def reset(self, limit: RateLimit, key: str) -> None:
        """Forget every hit of ``key`` under ``limit`` (operators, tests)."""
        try:
            await self._limiter.clear(_item(limit), *_identifiers(limit, key))
        except self._errors as exc:
            raise ExternalServiceError("rate limit storage unavailable") from exc

    async def check(self) -> bool:
        """Say whether the counter storage answers; never raises."""
        try:
            return await self._storage.check()
        except self._errors:
            return False

    async def aclose(self) -> None:
        """Close the Redis connections, if any; the limiter must not be used afterwards."""
        if self._pool is not None:
            await self._pool.aclose()
