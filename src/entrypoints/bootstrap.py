"""The composition root: the one place that chooses adapters from settings.

Nothing connects at import time; ``bootstrap`` builds engines and clients (which connect
lazily), and ``Services.aclose`` releases them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta

from attrs import define, field

from adapters.billing import DisabledBillingGateway, StripeBillingGateway, StubBillingGateway
from adapters.billing.local import InMemoryBillingGateway
from adapters.clock import SystemClock, UuidIds
from adapters.crypto import FernetSealer
from adapters.email import SmtpConfig, SmtpEmailSender, StubEmailSender
from adapters.memory import InMemoryDatabase
from adapters.memory.email import InMemoryEmailSender
from adapters.memory.ratelimit import InMemoryRateLimiter
from adapters.ratelimit import LimitsRateLimiter
from adapters.sql import SqlUnitOfWork, make_engine
from adapters.sql.migrate import readiness_problems
from entrypoints.settings import Settings
from entrypoints.wakeup import Wakeup
from saascore.context import Deps, Tx
from saascore.models import Actor, RateLimit
from saascore.policies import AuthPolicy, BillingPolicy, DeliveryPolicy, InvitePolicy, RateLimits
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
    """Everything the entrypoints use, built once per process: the settings, the use cases'
    ``Deps`` and what only the entrypoints need (readiness, closers, the dispatcher's
    wake-up)."""

    settings: Settings
    deps: Deps
    readiness: Readiness = _always_ready
    closers: list[Closer] = field(factory=list)
    # Set when something was queued in the outbox, so the dispatcher runs now, not later.
    outbox_wakeup: Wakeup = field(factory=Wakeup)

    # Short names for the parts of ``deps`` that entrypoints and tests reach most.
    @property
    def uow(self) -> UnitOfWorkFactory:
        return self.deps.writer

    @property
    def reader(self) -> UnitOfWorkFactory:
        return self.deps.reader

    @property
    def clock(self) -> Clock:
        return self.deps.clock

    @property
    def ids(self) -> Ids:
        return self.deps.ids

    @property
    def billing(self) -> BillingGateway:
        return self.deps.billing

    @property
    def email(self) -> EmailSender:
        return self.deps.email

    @property
    def limiter(self) -> RateLimiter:
        return self.deps.limiter

    @property
    def policies(self) -> RateLimits:
        return self.deps.limits

    @property
    def auth_policy(self) -> AuthPolicy:
        return self.deps.auth

    @property
    def billing_policy(self) -> BillingPolicy:
        return self.deps.plans

    @property
    def invite_policy(self) -> InvitePolicy:
        return self.deps.invites

    @property
    def delivery_policy(self) -> DeliveryPolicy:
        return self.deps.delivery

    @property
    def mailbox(self) -> StubEmailSender | None:
        """The stub sender whose email the dev mailbox page shows, if there is one."""
        email = self.deps.email
        return (
            email if offers_mailbox(self.settings) and isinstance(email, StubEmailSender) else None
        )

    @property
    def billing_stub(self) -> InMemoryBillingGateway | None:
        """The in-process billing provider whose checkout and portal the app serves as its
        own pages (the offline ``stub`` backend, and ``memory`` in tests), if in use."""
        billing = self.deps.billing
        return billing if isinstance(billing, InMemoryBillingGateway) else None

    def transaction(self, actor: Actor, *, write: bool = True) -> AbstractAsyncContextManager[Tx]:
        return self.deps.transaction(actor, write=write)

    async def aclose(self) -> None:
        while self.closers:
            await self.closers.pop()()


def rate_limits(settings: Settings) -> RateLimits:
    login_window = settings.login_link_limit_window_minutes * 60
    return RateLimits(
        general=RateLimit(
            "general", settings.rate_limit_max, settings.rate_limit_window_minutes * 60
        ),
        login_link_per_email=RateLimit(
            "login_link_email", settings.login_link_limit_per_email, login_window
        ),
        login_link_per_ip=RateLimit(
            "login_link_ip", settings.login_link_limit_per_ip, login_window
        ),
        confirm_per_ip=RateLimit(
            "confirm_ip",
            settings.confirm_limit_per_ip,
            settings.confirm_limit_window_minutes * 60,
        ),
        invites_per_workspace=RateLimit(
            "invites_workspace",
            settings.invite_limit_per_workspace,
            settings.invite_limit_window_minutes * 60,
        ),
        webhook_per_ip=RateLimit(
            "webhook_ip",
            settings.webhook_limit_per_ip,
            settings.webhook_limit_window_minutes * 60,
        ),
    )


def services_for(
    settings: Settings,
    *,
    writer: UnitOfWorkFactory,
    reader: UnitOfWorkFactory,
    clock: Clock,
    ids: Ids,
    billing: BillingGateway,
    email: EmailSender,
    limiter: RateLimiter,
    readiness: Readiness = _always_ready,
    closers: list[Closer] | None = None,
) -> Services:
    """``Services`` whose ``Deps`` carry the policies ``settings`` set."""
    wakeup = Wakeup()
    plans = BillingPolicy(
        plans=settings.plans,
        base_url=settings.base_url,
        past_due_grace=timedelta(seconds=settings.billing_past_due_grace_seconds),
    )
    deps = Deps(
        writer=writer,
        reader=reader,
        clock=clock,
        ids=ids,
        billing=billing,
        email=email,
        limiter=limiter,
        sealer=FernetSealer(settings.secret_key),
        auth=AuthPolicy(
            base_url=settings.base_url,
            login_link_ttl=timedelta(seconds=settings.login_link_ttl_seconds),
            session_idle_ttl=timedelta(seconds=settings.session_idle_ttl_seconds),
            session_absolute_ttl=timedelta(seconds=settings.session_absolute_ttl_seconds),
            signup_enabled=settings.signup_enabled,
        ),
        plans=plans,
        invites=InvitePolicy(
            base_url=settings.base_url,
            ttl=timedelta(seconds=settings.invite_ttl_seconds),
        ),
        delivery=DeliveryPolicy(max_attempts=settings.outbox_max_attempts),
        limits=rate_limits(settings),
        email_queued=wakeup.set,
    )
    return Services(
        settings=settings,
        deps=deps,
        readiness=readiness,
        closers=closers if closers is not None else [],
        outbox_wakeup=wakeup,
    )


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


def offers_mailbox(settings: Settings) -> bool:
    """Whether the app serves the dev mailbox: the stub email backend, never in production."""
    return settings.email_backend == "stub" and not settings.is_production


def offers_billing_stub(settings: Settings) -> bool:
    """Whether the billing provider runs in this process, with its pages on the app."""
    return settings.billing_backend in ("stub", "memory")


def adopts_stored_billing(settings: Settings) -> bool:
    """Whether the stub provider starts from the billing records in the database (so that
    subscriptions made before a restart, and the demo's, can be managed in its portal)."""
    return settings.billing_backend == "stub"


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
        return services_for(
            settings,
            writer=database.unit_of_work,
            reader=database.read_unit_of_work,
            clock=clock,
            ids=UuidIds(),
            billing=billing,
            email=email,
            limiter=limiter,
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

    return services_for(
        settings,
        writer=unit_of_work,
        reader=read_unit_of_work,
        clock=clock,
        ids=UuidIds(),
        billing=billing,
        email=email,
        limiter=limiter,
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
    return services_for(
        settings,
        writer=db.unit_of_work,
        reader=db.read_unit_of_work,
        clock=clock,
        ids=ids or UuidIds(),
        billing=InMemoryBillingGateway(
            webhook_secret=settings.stripe_webhook_secret or "whsec_memory", clock=clock
        ),
        email=InMemoryEmailSender(),
        limiter=InMemoryRateLimiter(clock),
    )
