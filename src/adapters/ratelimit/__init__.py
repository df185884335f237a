"""Rate limiting on the ``limits`` library (the in-memory fake is ``adapters.memory.ratelimit``)."""

from adapters.ratelimit.limits import SUPPORTED_SCHEMES, LimitsRateLimiter, redis_available

__all__ = ["SUPPORTED_SCHEMES", "LimitsRateLimiter", "redis_available"]
