"""The composition root: the one place that chooses adapters from settings.

Nothing connects at import time; ``bootstrap`` builds engines and clients (which connect
lazily), and ``Services.aclose`` releases them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import cached_property

from attrs import define, field

from adapters.billing import DisabledBillingGateway, StripeBillingGateway, StubBillingGateway
from adapters.clock import SystemClock, UuidIds
from adapters.email import SmtpConfig, SmtpEmailSender, StubEmailSender
from adapters.memory import InMemoryDatabase
from adapters.memory.billing import InMemoryBillingGateway
from adapters.memory.email import InMemoryEmailSender
from adapters.memory.ratelimit import InMemoryRateLimiter
from adapters.ratelimit import LimitsRateLimiter
from adapters.sql import SqlUnitOfWork, make_engine
from adapters.sql.migrate import readiness_problems
from entrypoints.policies import Policies
from entrypoints.settings import Settings
from entrypoints.wakeup import Wakeup
from saascore.auth import AuthPolicy
from saascore.billing import BillingPolicy
from saascore.invites import InvitePolicy
from saascore.outbox import DeliveryPolicy
from saascore.ports import (
    BillingGateway,
    Clock,
    EmailSender,
    Ids,
    RateLimiter,
    UnitOfWork,
    UnitOfWorkFactory,
)

Readiness = Callable[[], Awaitable[list[str]]]
# Where the web app serves the offline billing stub's checkout and portal pages.
STUB_BILLING_PATH = "/billing/stub"
Closer = Callable[[], Awaitable[None]]


async def _always_ready() -> list[str]:
    return []


@define
class Services:
    """Everything the entrypoints use, built once per process. The policies derive from the
    (immutable) settings once, on first use."""

    settings: Settings
    uow: UnitOfWorkFactory  # write units of work
    reader: UnitOfWorkFactory  # read units of work: no write turn, no commit
    email: EmailSender
    limiter: RateLimiter
    billing: BillingGateway = field(factory=DisabledBillingGateway)
    clock: Clock = field(factory=SystemClock)
    ids: Ids = field(factory=UuidIds)
    readiness: Readiness = _always_ready
    closers: list[Closer] = field(factory=list)
    # Set when something was queued in the outbox, so the dispatcher runs now, not later.
    outbox_wakeup: Wakeup = field(factory=Wakeup)

    @cached_property
    def auth_policy(self) -> AuthPolicy:
        s = self.settings
        return AuthPolicy(
            base_url=s.base_url,
            login_link_ttl=timedelta(seconds=s.login_link_ttl_seconds),
            session_idle_ttl=timedelta(seconds=s.session_idle_ttl_seconds),
            session_absolute_ttl=timedelta(seconds=s.session_absolute_ttl_seconds),
            signup_enabled=s.signup_enabled,
        )

    @cached_property
    def billing_policy(self) -> BillingPolicy:
        return BillingPolicy(
            plans=self.settings.plans,
            base_url=self.settings.base_url,
            past_due_grace=timedelta(seconds=self.settings.billing_past_due_grace_seconds),
        )

    @cached_property
    def invite_policy(self) -> InvitePolicy:
        return InvitePolicy(
            base_url=self.settings.base_url,
            ttl=timedelta(seconds=self.settings.invite_ttl_seconds),
            billing=self.billing_policy,
        )

    @cached_property
    def delivery_policy(self) -> DeliveryPolicy:
        return DeliveryPolicy(max_attempts=self.settings.outbox_max_attempts)

    @cached_property
    def policies(self) -> Policies:
        return Policies.from_settings(self.settings)

    async def aclose(self) -> None:
        while self.closers:
            await self.closers.pop()()


def email_sender(settings: Settings, clock: Clock) -> EmailSender:
    """The email adapter ``EMAIL_BACKEND`` names."""
    if settings.email_backend == "smtp":
        return SmtpEmailSender(
            SmtpConfig(
                host=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_username or None,
                password=settings.smtp_password or None,
                from_address=settings.smtp_from,
                tls=settings.smtp_tls,
                timeout=float(settings.smtp_timeout_seconds),
            ),
            clock=clock,
        )
    if settings.email_backend == "memory":
        return InMemoryEmailSender()
    return StubEmailSender(clock=clock)


def billing_gateway(settings: Settings, clock: Clock) -> BillingGateway:
    """The billing adapter ``BILLING_BACKEND`` names."""
    if settings.billing_backend == "stripe":
        return StripeBillingGateway(
            settings.stripe_secret_key,
            settings.stripe_webhook_secret,
            api_base=settings.stripe_api_base or None,
            timeout=float(settings.stripe_timeout_seconds),
        )
    if settings.billing_backend == "none":
        return DisabledBillingGateway()
    return StubBillingGateway(
        f"{settings.base_url}{STUB_BILLING_PATH}",
        webhook_secret=settings.stripe_webhook_secret,
        clock=clock,
    )


def bootstrap(settings: Settings) -> Services:
    """Build the services ``settings`` asks for."""
    clock = SystemClock()
    limiter = LimitsRateLimiter(settings.rate_limit_storage_url)
    email = email_sender(settings, clock)
    billing = billing_gateway(settings, clock)
    if settings.uses_memory_database:
        database = InMemoryDatabase()
        return Services(
            settings=settings,
            uow=database.unit_of_work,
            reader=database.read_unit_of_work,
            email=email,
            limiter=limiter,
            billing=billing,
            clock=clock,
            closers=[limiter.aclose],
        )
    engine = make_engine(settings.database_url)

    def unit_of_work() -> UnitOfWork:
        return SqlUnitOfWork(engine)

    def read_unit_of_work() -> UnitOfWork:
        return SqlUnitOfWork(engine, read_only=True)

    async def readiness() -> list[str]:
        problems = await readiness_problems(engine)
        if not await limiter.check():
            problems.append("rate limit storage unreachable: check RATE_LIMIT_STORAGE_URL")
        return problems

    return Services(
        settings=settings,
        uow=unit_of_work,
        reader=read_unit_of_work,
        email=email,
        limiter=limiter,
        billing=billing,
        clock=clock,
        readiness=readiness,
        closers=[engine.dispose, limiter.aclose],
    )


def memory_services(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    ids: Ids | None = None,
    database: InMemoryDatabase | None = None,
) -> Services:
    """Services on in-memory adapters only: for unit tests and for users' own tests."""
    db = database or InMemoryDatabase()
    clock = clock or SystemClock()
    settings = settings or Settings(
        database_url="memory://", environment="test", email_backend="memory"
    )
    return Services(
        settings=settings,
        uow=db.unit_of_work,
        reader=db.read_unit_of_work,
        email=InMemoryEmailSender(),
        limiter=InMemoryRateLimiter(clock),
        billing=InMemoryBillingGateway(
            webhook_secret=settings.stripe_webhook_secret or "whsec_memory", clock=clock
        ),
        clock=clock,
        ids=ids or UuidIds(),
    )
