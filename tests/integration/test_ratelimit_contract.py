"""The rate limiter contract, written once and run against every adapter: the in-memory log on
a frozen clock, ``limits`` in process memory, and ``limits`` on Redis (fixture ``subject``).

Windows that must pass are one second long: the frozen clock jumps over them, the real
adapters sleep through them. Every test makes its own random policy names, so Redis keys never
meet and expire on their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

import pytest
from attrs import frozen
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.clock import FrozenClock
from adapters.memory.ratelimit import InMemoryRateLimiter
from adapters.ratelimit import LimitsRateLimiter
from saascore.errors import ExternalServiceError
from saascore.models import RateDecision, RateLimit
from tests.support.redis import redis_url, unique_name

CLOSED_PORT_URL = "redis://127.0.0.1:1"  # loopback, nothing listens: a storage that is down


class Limiter(Protocol):
    async def hit(self, limit: RateLimit, key: str) -> RateDecision: ...
    async def reset(self, limit: RateLimit, key: str) -> None: ...
    async def check(self) -> bool: ...


@frozen
class Subject:
    """A limiter under test and a way to let time pass for it."""

    limiter: Limiter
    advance: Callable[[float], Awaitable[None]]


def policy(limit: int, window_seconds: int, label: str = "policy") -> RateLimit:
    return RateLimit(unique_name(label), limit, window_seconds)


async def hits(limiter: Limiter, limit: RateLimit, key: str, count: int) -> list[RateDecision]:
    return [await limiter.hit(limit, key) for _ in range(count)]


def allowed(decisions: list[RateDecision]) -> list[bool]:
    return [d.allowed for d in decisions]


@pytest.fixture(
    params=["memory", "limits-memory", pytest.param("limits-redis", marks=pytest.mark.redis)]
)
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[Subject]:
    """Each adapter, with time that can be moved on."""
    if request.param == "memory":
        clock = FrozenClock()

        async def jump(seconds: float) -> None:
            clock.advance(seconds=seconds)

        yield Subject(InMemoryRateLimiter(clock), jump)
        return
    url = "memory://" if request.param == "limits-memory" else redis_url()
    limiter = LimitsRateLimiter(url)
    yield Subject(limiter, asyncio.sleep)
    await limiter.aclose()


@pytest.fixture
async def redis_limiters() -> AsyncIterator[tuple[LimitsRateLimiter, LimitsRateLimiter]]:
    """Two limiters on one Redis, as two app processes would have."""
    url = redis_url()
    first, second = LimitsRateLimiter(url), LimitsRateLimiter(url)
    yield first, second
    await first.aclose()
    await second.aclose()


class TestAdmission:
    async def test_admits_exactly_the_limit_then_refuses(self, subject: Subject) -> None:
        """N hits are admitted, counting down; the next is refused with a wait within the window."""
        login = policy(3, 60)

        decisions = await hits(subject.limiter, login, "1.2.3.4", 4)

        assert [True, True, True, False] == allowed(decisions)
        assert [2, 1, 0, 0] == [d.remaining for d in decisions]
        assert [3, 3, 3, 3] == [d.limit for d in decisions]
        assert [0, 0, 0] == [d.reset_after for d in decisions[:3]]
        assert 1 <= decisions[3].reset_after <= 60

    async def test_keys_are_independent(self, subject: Subject) -> None:
        """Using up one key's budget leaves another key's untouched."""
        login = policy(2, 60)
        await hits(subject.limiter, login, "alice@example.com", 3)

        decision = await subject.limiter.hit(login, "bob@example.com")

        assert RateDecision(allowed=True, limit=2, remaining=1, reset_after=0) == decision

    async def test_policies_are_independent(self, subject: Subject) -> None:
        """Two policies never share counters, even for the same key and the same numbers."""
        login, invite = policy(2, 60, "login"), policy(2, 60, "invite")
        await hits(subject.limiter, login, "k", 3)

        assert [True, True, False] == allowed(await hits(subject.limiter, invite, "k", 3))

    async def test_slashes_do_not_merge_counters(self, subject: Subject) -> None:
        """Policy "p/a" with key "b" and policy "p" with key "a/b" count apart."""
        base = unique_name()
        await hits(subject.limiter, RateLimit(f"{base}/a", 1, 60), "b", 1)

        decision = await subject.limiter.hit(RateLimit(base, 1, 60), "a/b")

        assert decision.allowed

    async def test_reset_forgets_a_key(self, subject: Subject) -> None:
        """After a reset the key has its whole budget again; other keys keep their count."""
        login = policy(2, 60)
        await hits(subject.limiter, login, "a", 2)
        await hits(subject.limiter, login, "b", 2)

        await subject.limiter.reset(login, "a")

        assert [True, True, False] == allowed(await hits(subject.limiter, login, "a", 3))
        assert not (await subject.limiter.hit(login, "b")).allowed

    async def test_storage_is_healthy(self, subject: Subject) -> None:
        """A reachable storage says so."""
        assert await subject.limiter.check()


class TestMovingWindow:
    async def test_window_frees_up_as_old_hits_leave_it(self, subject: Subject) -> None:
        """Each hit frees its slot one window later: a moving window, not a fixed one."""
        api = policy(2, 1)
        first = await subject.limiter.hit(api, "k")
        await subject.advance(0.5)
        second_and_third = await hits(subject.limiter, api, "k", 2)

        await subject.advance(0.6)  # the first hit has left the window, the second has not
        after = await hits(subject.limiter, api, "k", 2)

        assert [True, True, False] == allowed([first, *second_and_third])
        assert [True, False] == allowed(after)

    async def test_refused_hits_do_not_extend_the_lockout(self, subject: Subject) -> None:
        """Hammering a full window does not push back the moment it frees up."""
        api = policy(2, 1)
        await hits(subject.limiter, api, "k", 2)

        refused = []
        for _ in range(3):
            await subject.advance(0.3)
            refused.append(await subject.limiter.hit(api, "k"))
        await subject.advance(0.2)  # 1.1 s after the admitted hits

        assert [False, False, False] == allowed(refused)
        assert [1, 1, 1] == [d.reset_after for d in refused]
        assert [True, True, False] == allowed(await hits(subject.limiter, api, "k", 3))


class TestConcurrency:
    async def test_concurrent_hits_admit_exactly_the_limit(self, subject: Subject) -> None:
        """Fifty hits at once against a limit of ten admit exactly ten."""
        burst = policy(10, 60)

        decisions = await asyncio.gather(*(subject.limiter.hit(burst, "k") for _ in range(50)))

        assert 10 == sum(d.allowed for d in decisions)

    @pytest.mark.redis
    async def test_processes_share_one_budget_through_redis(
        self, redis_limiters: tuple[LimitsRateLimiter, LimitsRateLimiter]
    ) -> None:
        """Two limiters on one Redis (two app processes) draw on one budget per key."""
        first, second = redis_limiters
        login = policy(4, 60)

        from_first = await hits(first, login, "k", 2)
        from_second = await hits(second, login, "k", 3)

        assert [True, True] == allowed(from_first)
        assert [True, True, False] == allowed(from_second)
        assert not (await first.hit(login, "k")).allowed

    @pytest.mark.redis
    async def test_concurrent_hits_across_processes(
        self, redis_limiters: tuple[LimitsRateLimiter, LimitsRateLimiter]
    ) -> None:
        """Fifty hits at once, split over two limiters on one Redis, admit exactly ten."""
        first, second = redis_limiters
        burst = policy(10, 60)

        decisions = await asyncio.gather(
            *((first if n % 2 else second).hit(burst, "k") for n in range(50))
        )

        assert 10 == sum(d.allowed for d in decisions)


class TestStorage:
    async def test_unreachable_storage_is_an_external_service_error(self) -> None:
        """A Redis nobody answers for fails hits and resets with ExternalServiceError."""
        limiter = LimitsRateLimiter(CLOSED_PORT_URL, timeout=1)
        try:
            with pytest.raises(ExternalServiceError, match="rate limit storage unavailable"):
                await limiter.hit(policy(1, 60), "k")
            with pytest.raises(ExternalServiceError):
                await limiter.reset(policy(1, 60), "k")
            assert not await limiter.check()
        finally:
            await limiter.aclose()

    @pytest.mark.parametrize(
        "url",
        ["memcached://localhost:11211", "postgresql://localhost/db", "async+mongodb://x", "x", ""],
    )
    def test_unsupported_url_is_a_value_error(self, url: str) -> None:
        """A storage URL the limiter cannot use is refused when it is built."""
        with pytest.raises(ValueError, match="unsupported rate limit storage"):
            LimitsRateLimiter(url)

    @pytest.mark.parametrize(
        "url", ["memory://", "async+memory://", "redis://localhost:6379/0", "async+rediss://h:1"]
    )
    async def test_supported_urls_build_without_connecting(self, url: str) -> None:
        """User-facing and async+ URLs are accepted, and building connects to nothing."""
        limiter = LimitsRateLimiter(url)

        await limiter.aclose()


class TestInMemoryExactness:
    """The in-memory log is exact, so its property can be checked against a brute-force count."""

    @settings(max_examples=200, deadline=None)
    @given(
        limit=st.integers(1, 5),
        window=st.integers(1, 10),
        gaps_ms=st.lists(st.integers(0, 4000), min_size=1, max_size=60),
    )
    async def test_no_window_ever_holds_more_than_the_limit(
        self, limit: int, window: int, gaps_ms: list[int]
    ) -> None:
        """Whatever the hit times, any window holds at most N admitted hits, and a refusal
        happens only when the window is full and lasts exactly until a slot frees."""
        clock = FrozenClock()
        limiter = InMemoryRateLimiter(clock)
        rule = RateLimit("p", limit, window)
        window_ms, now_ms = window * 1000, 0
        admitted: list[int] = []

        for gap in gaps_ms:
            clock.advance(milliseconds=gap)
            now_ms += gap
            decision = await limiter.hit(rule, "k")
            in_window = [t for t in admitted if now_ms - window_ms < t <= now_ms]
            if decision.allowed:
                admitted.append(now_ms)
                assert limit - len(in_window) - 1 == decision.remaining
                continue
            wait_ms = decision.reset_after * 1000
            assert limit == len(in_window)
            assert limit > sum(t > now_ms + wait_ms - window_ms for t in in_window)
            assert limit == sum(t > now_ms + wait_ms - 1000 - window_ms for t in in_window)

        assert all(sum(t <= u < t + window_ms for u in admitted) <= limit for t in admitted)
