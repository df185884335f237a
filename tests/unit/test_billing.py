"""Billing rules on memory adapters: entitlement, seats, owner-only money, the event ledger,
ordering, sync, replay, pause and deletion."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.billing.events import parse_event
from adapters.billing.local import InMemoryBillingGateway
from adapters.clock import FrozenClock, SequentialIds
from entrypoints.bootstrap import memory_services
from entrypoints.cli.seed import seed_demo_data
from saascore import billing as bl
from saascore import invites as inv
from saascore.audit import verify_chain
from saascore.errors import (
    BillingUnavailable,
    InvalidInput,
    NotFound,
    PermissionDenied,
    SeatLimit,
)
from saascore.models import (
    Actor,
    BillingEvent,
    BillingView,
    CheckoutStart,
    LedgerOutcome,
    Plan,
    Role,
    Subscription,
    SubscriptionSnapshot,
    SubscriptionStatus,
    User,
    Workspace,
)
from saascore.policies import InvitePolicy
from saascore.ports import UnitOfWork
from tests.support.context import ctx_of, deps_of, tx_of
from tests.support.world import World, as_

FREE = Plan("free", None, 3)
PRO = Plan("pro", "price_pro", 10)
POLICY = bl.BillingPolicy(
    plans=(FREE, PRO), base_url="https://app.example.com", past_due_grace=timedelta(days=7)
)
INVITES = InvitePolicy(base_url="https://app.example.com")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Acme:
    def __init__(self, world: World, owner: User, admin: User, member: User, ws: Workspace):
        self.world, self.owner, self.admin, self.member, self.workspace = (
            world,
            owner,
            admin,
            member,
            ws,
        )

    @property
    def gateway(self) -> InMemoryBillingGateway:
        billing = self.world.services.billing
        assert isinstance(billing, InMemoryBillingGateway)
        return billing

    async def checkout(self, user: User | None = None, plan: str = "pro") -> CheckoutStart:
        s = self.world.services
        return await bl.start_checkout(
            ctx_of(s, as_(user or self.owner), POLICY), self.workspace.id, plan=plan
        )

    async def deliver(self, events: list[BillingEvent]) -> list[LedgerOutcome | None]:
        s = self.world.services
        return [await bl.receive_event(ctx_of(s, None, POLICY), e) for e in events]

    async def pay(self) -> str:
        """Upgrade to pro through checkout; return the subscription id."""
        start = await self.checkout()
        events = self.gateway.complete_checkout(start.url.rsplit("/", 1)[1])
        await self.deliver(events)
        sub = await self.subscription()
        assert sub is not None
        assert sub.subscription_id
        return sub.subscription_id

    async def subscription(self) -> Subscription | None:
        return await self.world.run(lambda uow: uow.subscriptions.get(self.workspace.id))

    async def view(self) -> BillingView:
        s = self.world.services
        return await self.world.run(
            lambda uow: bl.billing_status(
                tx_of(s, uow, as_(self.member), POLICY), self.workspace.id
            )
        )

    async def invite(self, email: str) -> inv.Issued:
        s = self.world.services
        return await self.world.run(
            lambda uow: inv.create_invite(
                tx_of(s, uow, as_(self.owner), INVITES, POLICY),
                self.workspace.id,
                email=email,
                role=Role.MEMBER,
            )
        )

    async def actions(self) -> list[str]:
        return [e.action for e in await self.world.audit(self.workspace)]


@pytest.fixture
def world() -> World:
    return World.in_memory()


@pytest.fixture
async def acme(world: World) -> Acme:
    owner = await world.user("founder@example.com", "Frances")
    admin = await world.user("ada@example.com")
    member = await world.user("max@example.com")
    ws = await world.workspace(owner)
    await world.join(ws, admin, Role.ADMIN)
    await world.join(ws, member, Role.MEMBER)
    return Acme(world, owner, admin, member, ws)


def clock_of(world: World) -> FrozenClock:
    clock = world.services.clock
    assert isinstance(clock, FrozenClock)
    return clock


# ---------------------------------------------------------------- entitlement


class TestEntitlement:
    @pytest.mark.parametrize(
        ("status", "entitled"),
        [
            (SubscriptionStatus.TRIALING, True),
            (SubscriptionStatus.ACTIVE, True),
            (SubscriptionStatus.INCOMPLETE, False),
            (SubscriptionStatus.INCOMPLETE_EXPIRED, False),
            (SubscriptionStatus.UNPAID, False),
            (SubscriptionStatus.CANCELED, False),
            (SubscriptionStatus.PAUSED, False),
        ],
    )
    def test_status_decides_the_plan(self, status: SubscriptionStatus, entitled: bool) -> None:
        sub = Subscription("w", "cus", "sub", status, "price_pro")

        assert entitled == bl.is_entitled(sub, POLICY, T0)
        assert (PRO if entitled else FREE) == bl.plan_of(sub, POLICY, T0)

    def test_past_due_keeps_the_plan_for_the_grace_period_only(self) -> None:
        sub = Subscription(
            "w", "cus", "sub", SubscriptionStatus.PAST_DUE, "price_pro", past_due_since=T0
        )

        assert PRO == bl.plan_of(sub, POLICY, T0 + timedelta(days=6, hours=23))
        assert FREE == bl.plan_of(sub, POLICY, T0 + timedelta(days=7))

    def test_no_subscription_and_unknown_prices_are_free(self) -> None:
        unknown = Subscription("w", "cus", "sub", SubscriptionStatus.ACTIVE, "price_gone")

        assert FREE == bl.plan_of(None, POLICY, T0)
        assert FREE == bl.plan_of(unknown, POLICY, T0)

    def test_the_first_plan_must_be_free(self) -> None:
        with pytest.raises(ValueError, match="free"):
            bl.BillingPolicy(plans=(PRO,))


# ---------------------------------------------------------------- seats


class TestSeats:
    async def test_inviting_past_the_free_limit_is_refused(self, acme: Acme) -> None:
        """Three members fill the free plan's three seats: the next invite is a 402."""
        with pytest.raises(SeatLimit) as caught:
            await acme.invite("newbie@example.com")

        assert "plan_limit_reached" == caught.value.code
        assert "3 seats" in caught.value.message

    async def test_pending_invites_take_seats(self, world: World) -> None:
        owner = await world.user("o@example.com")
        ws = await world.workspace(owner)
        acme = Acme(world, owner, owner, owner, ws)
        await acme.invite("one@example.com")
        await acme.invite("two@example.com")

        with pytest.raises(SeatLimit):
            await acme.invite("three@example.com")

    async def test_accepting_past_the_limit_is_refused(self, world: World) -> None:
        """Invites made while the plan had room cannot be accepted once it has none."""
        owner = await world.user("o@example.com")
        ws = await world.workspace(owner)
        acme = Acme(world, owner, owner, owner, ws)
        first = await acme.invite("one@example.com")
        await acme.invite("two@example.com")
        for email in ("three@example.com", "four@example.com"):  # operators' direct adds
            await world.join(ws, await world.user(email), Role.MEMBER)
        s = world.services
        one = await world.user("one@example.com")

        with pytest.raises(SeatLimit):
            await world.run(
                lambda uow: inv.accept_invite(
                    tx_of(s, uow, as_(one), INVITES, POLICY), one, first.token
                )
            )
        assert await world.role_of(ws, one) is None

    async def test_upgrading_raises_the_limit(self, acme: Acme) -> None:
        await acme.pay()

        issued = await acme.invite("newbie@example.com")

        assert issued.invite.email == "newbie@example.com"
        view = await acme.view()
        assert ("pro", 10, 3) == (view.plan.name, view.seat_limit, view.seats_used)


# ---------------------------------------------------------------- owners and money


class TestCheckout:
    @pytest.mark.parametrize("who", ["admin", "member"])
    async def test_only_owners_start_a_checkout_or_open_the_portal(
        self, acme: Acme, who: str
    ) -> None:
        user = acme.admin if who == "admin" else acme.member
        s = acme.world.services

        with pytest.raises(PermissionDenied):
            await acme.checkout(user)
        with pytest.raises(PermissionDenied):
            await bl.open_portal(ctx_of(s, as_(user), POLICY), acme.workspace.id)
        assert [] == acme.gateway.calls

    async def test_an_outsider_gets_not_found(self, acme: Acme) -> None:
        stranger = await acme.world.user("eve@example.com")

        with pytest.raises(NotFound):
            await acme.checkout(stranger)

    async def test_an_unknown_or_free_plan_is_bad_input(self, acme: Acme) -> None:
        for name in ("platinum", "free"):
            with pytest.raises(InvalidInput) as caught:
                await acme.checkout(plan=name)
            assert "pro" in caught.value.fields["plan"]

    async def test_checkout_makes_one_customer_and_a_session(self, acme: Acme) -> None:
        first = await acme.checkout()
        second = await acme.checkout()

        assert "checkout" == first.kind == second.kind
        assert 1 == len(acme.gateway.customers)
        sub = await acme.subscription()
        assert sub is not None
        assert sub.subscription_id is None
        session = acme.gateway.checkouts[first.url.rsplit("/", 1)[1]]
        assert acme.workspace.id == session["client_reference_id"]
        assert "price_pro" == session["price"]
        assert "billing.checkout_started" in await acme.actions()

    async def test_a_live_subscription_goes_to_the_portal_not_a_second_checkout(
        self, acme: Acme
    ) -> None:
        await acme.pay()

        again = await acme.checkout()

        assert "portal" == again.kind
        assert 1 == len(acme.gateway.subscriptions)

    async def test_paying_upgrades_and_every_step_is_audited(self, acme: Acme) -> None:
        await acme.pay()

        view = await acme.view()
        assert ("pro", SubscriptionStatus.ACTIVE, True) == (
            view.plan.name,
            view.status,
            view.entitled,
        )
        actions = await acme.actions()
        for action in (
            "billing.customer_created",
            "billing.checkout_started",
            "billing.subscription_updated",
            "billing.invoice_paid",
        ):
            assert action in actions
        assert await acme.world.run(lambda uow: verify_chain(uow, acme.workspace.id)) is None

    async def test_a_provider_outage_is_billing_unavailable_and_keeps_nothing(
        self, acme: Acme
    ) -> None:
        acme.gateway.outage()

        with pytest.raises(BillingUnavailable):
            await acme.checkout()
        assert await acme.subscription() is None


# ---------------------------------------------------------------- events


def snapshot(
    status: SubscriptionStatus, *, sub: str = "sub_1", price: str = "price_pro"
) -> SubscriptionSnapshot:
    return SubscriptionSnapshot(
        subscription_id=sub,
        customer_id="cus_1",
        status=status,
        price_id=price,
        current_period_end=T0 + timedelta(days=30),
        cancel_at_period_end=False,
    )


def event(
    n: int, status: SubscriptionStatus, *, kind: str = "updated", sub: str = "sub_1"
) -> BillingEvent:
    """Event number ``n``, created ``n`` seconds after T0."""
    return BillingEvent(
        id=f"evt_{n}_{status}",
        type=f"customer.subscription.{kind}",
        created_at=T0 + timedelta(seconds=n),
        customer_id="cus_1",
        subscription_id=sub,
        subscription=snapshot(status, sub=sub),
    )


async def with_customer(acme: Acme) -> None:
    """The workspace has a customer (as after starting a checkout)."""
    s = acme.world.services

    async def save(uow: UnitOfWork) -> None:
        await uow.subscriptions.save(Subscription(acme.workspace.id, "cus_1"))

    await acme.world.run(save)
    assert s.billing is acme.gateway


async def apply(acme: Acme, *events: BillingEvent) -> list[LedgerOutcome | None]:
    """Apply events as delivered, without a re-fetch (the provider is unreachable)."""
    acme.gateway.outage()
    try:
        return await acme.deliver(list(events))
    finally:
        acme.gateway.outage(False)


class TestEvents:
    async def test_a_duplicate_changes_nothing(self, acme: Acme) -> None:
        await with_customer(acme)
        created = event(1, SubscriptionStatus.ACTIVE, kind="created")

        outcomes = await apply(acme, created, created)
        audit = await acme.actions()

        assert [LedgerOutcome.APPLIED, None] == outcomes
        assert 1 == audit.count("billing.subscription_updated")

    async def test_an_older_event_does_not_roll_back(self, acme: Acme) -> None:
        await with_customer(acme)

        outcomes = await apply(
            acme, event(5, SubscriptionStatus.PAST_DUE), event(3, SubscriptionStatus.ACTIVE)
        )

        assert [LedgerOutcome.APPLIED, LedgerOutcome.STALE] == outcomes
        sub = await acme.subscription()
        assert sub is not None
        assert SubscriptionStatus.PAST_DUE == sub.status

    async def test_a_deleted_subscription_never_comes_back(self, acme: Acme) -> None:
        """Even an "updated" event stamped in the same second cannot resurrect it."""
        await with_customer(acme)

        await apply(
            acme,
            event(5, SubscriptionStatus.CANCELED, kind="deleted"),
            event(5, SubscriptionStatus.ACTIVE),
            event(9, SubscriptionStatus.ACTIVE),
        )

        sub = await acme.subscription()
        assert sub is not None
        assert SubscriptionStatus.CANCELED == sub.status

    async def test_a_new_subscription_replaces_a_canceled_one(self, acme: Acme) -> None:
        await with_customer(acme)

        await apply(
            acme,
            event(1, SubscriptionStatus.CANCELED, kind="deleted"),
            event(2, SubscriptionStatus.ACTIVE, kind="created", sub="sub_2"),
            event(3, SubscriptionStatus.CANCELED, kind="deleted"),  # the old one, late
        )

        sub = await acme.subscription()
        assert sub is not None
        assert ("sub_2", SubscriptionStatus.ACTIVE) == (sub.subscription_id, sub.status)

    async def test_unknown_types_and_strangers_are_recorded_and_ignored(self, acme: Acme) -> None:
        await with_customer(acme)
        unused = BillingEvent("evt_x", "customer.created", T0, customer_id="cus_1")
        stranger = event(1, SubscriptionStatus.ACTIVE, sub="sub_other")
        stranger = BillingEvent(
            "evt_y", stranger.type, T0, customer_id="cus_other", subscription_id="sub_other",
            subscription=snapshot(SubscriptionStatus.ACTIVE, sub="sub_other"),
        )  # fmt: skip

        outcomes = await apply(acme, unused, stranger)

        assert [LedgerOutcome.IGNORED, LedgerOutcome.IGNORED] == outcomes
        sub = await acme.subscription()
        assert sub is not None
        assert sub.subscription_id is None

    async def test_the_fresh_subscription_wins_over_the_events_copy(self, acme: Acme) -> None:
        """The provider's current state is stored, not the (older) copy in the event."""
        sub_id = await acme.pay()
        acme.gateway.set_status(sub_id, SubscriptionStatus.PAST_DUE)
        old = event(1, SubscriptionStatus.ACTIVE, sub=sub_id)
        old = BillingEvent(
            "evt_old", old.type, T0, customer_id=old.customer_id, subscription_id=sub_id,
            subscription=old.subscription,
        )  # fmt: skip

        await acme.deliver([old])

        sub = await acme.subscription()
        assert sub is not None
        assert SubscriptionStatus.PAST_DUE == sub.status

    async def test_a_hanging_provider_does_not_hold_the_webhook(self, acme: Acme) -> None:
        """The re-fetch is bounded; the event's own copy is applied when it runs out."""
        await with_customer(acme)
        s = acme.world.services
        hung = asyncio.Event()

        async def never(subscription_id: str) -> SubscriptionSnapshot | None:
            await hung.wait()  # never set: a provider that accepts and never answers
            return None

        acme.gateway.fetch_subscription = never  # type: ignore[method-assign]
        policy = attrs.evolve(POLICY, refetch_timeout=timedelta(milliseconds=50))
        created = event(1, SubscriptionStatus.ACTIVE, kind="created")

        outcome = await asyncio.wait_for(
            bl.receive_event(ctx_of(s, None, policy), created), timeout=5
        )

        assert LedgerOutcome.APPLIED == outcome
        sub = await acme.subscription()
        assert sub is not None
        assert SubscriptionStatus.ACTIVE == sub.status

    async def test_a_failed_payment_emails_the_owners_and_is_audited(self, acme: Acme) -> None:
        sub_id = await acme.pay()

        await acme.deliver(acme.gateway.set_status(sub_id, SubscriptionStatus.PAST_DUE))

        outbox = await acme.world.run(lambda uow: uow.outbox.list())
        assert ["founder@example.com"] == [m.message.to for m in outbox]
        assert "Payment failed" in outbox[0].message.subject
        assert "billing.payment_failed" in await acme.actions()
        view = await acme.view()
        assert view.grace_ends_at == clock_of(acme.world).now() + timedelta(days=7)
        assert "pro" == view.plan.name  # still, during the grace period

    async def test_a_failed_apply_keeps_nothing_and_the_retry_applies_once(
        self, acme: Acme
    ) -> None:
        """The ledger row is written in the same transaction as the change."""
        await with_customer(acme)
        created = event(1, SubscriptionStatus.ACTIVE, kind="created")
        s = acme.world.services
        real_uow = s.uow
        calls = {"n": 0}

        class Broken(Exception):
            pass

        def failing_uow() -> Any:
            uow = real_uow()
            calls["n"] += 1
            if calls["n"] == 1:  # the applying transaction (the duplicate check only reads)

                async def commit() -> None:
                    raise Broken

                uow.commit = commit  # type: ignore[method-assign]
            return uow

        deps = attrs.evolve(deps_of(s, POLICY), writer=failing_uow)
        with pytest.raises(Broken):
            await bl.receive_event(deps.ctx(Actor.system()), created)
        assert await acme.world.run(lambda uow: uow.billing_ledger.get(created.id)) is None

        outcomes = await apply(acme, created, created)

        assert [LedgerOutcome.APPLIED, None] == outcomes
        assert 1 == (await acme.actions()).count("billing.subscription_updated")


# Any order and any duplication of one subscription's events ends in the newest one's state.
LIFECYCLE = st.lists(
    st.sampled_from(
        [
            SubscriptionStatus.TRIALING,
            SubscriptionStatus.ACTIVE,
            SubscriptionStatus.PAST_DUE,
            SubscriptionStatus.UNPAID,
            SubscriptionStatus.PAUSED,
            SubscriptionStatus.INCOMPLETE,
        ]
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    statuses=LIFECYCLE,
    canceled_at_end=st.booleans(),
    order=st.randoms(use_true_random=False),
    copies=st.lists(st.integers(min_value=1, max_value=3), min_size=8, max_size=8),
)
def test_any_order_and_duplication_ends_in_the_newest_state(
    statuses: list[SubscriptionStatus],
    canceled_at_end: bool,
    order: Random,
    copies: list[int],
) -> None:
    timeline = [
        event(i + 1, status, kind="created" if i == 0 else "updated")
        for i, status in enumerate(statuses)
    ]
    if canceled_at_end:
        timeline.append(event(len(timeline) + 1, SubscriptionStatus.CANCELED, kind="deleted"))
    deliveries = [e for i, e in enumerate(timeline) for _ in range(copies[i % len(copies)])]
    order.shuffle(deliveries)

    async def run() -> Subscription | None:
        world = World(
            memory_services(clock=FrozenClock(T0 + timedelta(hours=1)), ids=SequentialIds("h"))
        )
        owner = await world.user("o@example.com")
        ws = await world.workspace(owner)
        acme = Acme(world, owner, owner, owner, ws)
        await with_customer(acme)
        await apply(acme, *deliveries)
        return await acme.subscription()

    stored = asyncio.run(run())

    newest = timeline[-1]
    assert stored is not None
    assert newest.subscription is not None
    assert newest.subscription.status == stored.status
    assert newest.created_at == stored.event_at


# ---------------------------------------------------------------- operators


class TestSync:
    async def test_sync_repairs_a_hand_edited_record(self, acme: Acme) -> None:
        sub_id = await acme.pay()

        async def tamper(uow: UnitOfWork) -> None:
            sub = await uow.subscriptions.get(acme.workspace.id)
            assert sub is not None
            sub.status, sub.price_id = SubscriptionStatus.CANCELED, "price_gone"
            await uow.subscriptions.save(sub)

        await acme.world.run(tamper)
        s = acme.world.services

        result = await bl.sync_subscription(ctx_of(s, Actor.system()), acme.workspace.id)
        again = await bl.sync_subscription(ctx_of(s, Actor.system()), acme.workspace.id)

        assert {"status": ["canceled", "active"], "price_id": ["price_gone", "price_pro"]} == dict(
            result.changes
        )
        assert {} == dict(again.changes)
        sub = await acme.subscription()
        assert sub is not None
        assert (sub_id, SubscriptionStatus.ACTIVE) == (sub.subscription_id, sub.status)
        assert "billing.subscription_synced" in await acme.actions()

    async def test_a_subscription_the_provider_does_not_know_is_left_alone(
        self, acme: Acme
    ) -> None:
        await with_customer(acme)
        await apply(acme, event(1, SubscriptionStatus.ACTIVE, kind="created"))
        s = acme.world.services

        result = await bl.sync_subscription(ctx_of(s, Actor.system()), acme.workspace.id)

        assert result.missing
        sub = await acme.subscription()
        assert sub is not None
        assert SubscriptionStatus.ACTIVE == sub.status


class TestReplay:
    async def test_replay_applies_what_never_arrived_once(self, acme: Acme) -> None:
        start = await acme.checkout()
        acme.gateway.complete_checkout(start.url.rsplit("/", 1)[1])  # no webhook arrived
        s = acme.world.services

        first = await bl.replay_events(ctx_of(s, None, POLICY), since=T0)
        second = await bl.replay_events(ctx_of(s, None, POLICY), since=T0)

        assert {LedgerOutcome.APPLIED} == {r.outcome for r in first}
        assert {None} == {r.outcome for r in second}
        assert "pro" == (await acme.view()).plan.name

    async def test_replaying_an_unknown_event_is_not_found(self, acme: Acme) -> None:
        s = acme.world.services

        with pytest.raises(NotFound):
            await bl.replay_events(ctx_of(s, None, POLICY), event_id="evt_nope")


class TestPauseAndDelete:
    async def test_pause_and_resume_collection(self, acme: Acme) -> None:
        await acme.pay()
        s = acme.world.services

        paused = await bl.set_collection(ctx_of(s, as_(acme.owner)), acme.workspace.id, paused=True)
        resumed = await bl.set_collection(
            ctx_of(s, as_(acme.owner)), acme.workspace.id, paused=False
        )

        assert (True, False) == (paused.collection_paused, resumed.collection_paused)
        actions = await acme.actions()
        assert {"billing.collection_paused", "billing.collection_resumed"} <= set(actions)

    async def test_admins_cannot_pause(self, acme: Acme) -> None:
        await acme.pay()
        s = acme.world.services

        with pytest.raises(PermissionDenied):
            await bl.set_collection(ctx_of(s, as_(acme.admin)), acme.workspace.id, paused=True)

    async def test_deleting_cancels_the_subscription_first(self, acme: Acme) -> None:
        sub_id = await acme.pay()
        s = acme.world.services

        await bl.delete_workspace(ctx_of(s, as_(acme.owner)), acme.workspace.id)

        assert "canceled" == acme.gateway.subscriptions[sub_id]["status"]
        assert await acme.world.run(lambda uow: uow.workspaces.get(acme.workspace.id)) is None
        actions = await acme.actions()
        assert ["billing.subscription_canceled", "workspace.deleted"] == actions[-2:]

    async def test_a_provider_outage_keeps_the_workspace(self, acme: Acme) -> None:
        await acme.pay()
        acme.gateway.outage()
        s = acme.world.services

        with pytest.raises(BillingUnavailable):
            await bl.delete_workspace(ctx_of(s, as_(acme.owner)), acme.workspace.id)

        assert await acme.world.run(lambda uow: uow.workspaces.get(acme.workspace.id))


class TestSeedAndParsing:
    async def test_made_up_billing_is_seeded_only_for_offline_billing(self) -> None:
        offline, online = World.in_memory(), World.in_memory()
        s1, s2 = offline.services, online.services

        seeded = await offline.run(lambda uow: seed_demo_data(tx_of(s1, uow)))
        skipped = await online.run(
            lambda uow: seed_demo_data(tx_of(s2, uow), offline_billing=False)
        )

        assert (2, 0) == (seeded.subscriptions, skipped.subscriptions)
        assert [] == list(await online.run(lambda uow: uow.subscriptions.list()))

    def test_a_customer_event_names_its_customer(self) -> None:
        parsed = parse_event(
            {
                "id": "evt_1",
                "type": "customer.updated",
                "created": 1767225600,
                "data": {"object": {"id": "cus_9", "object": "customer"}},
            }
        )

        assert ("cus_9", None) == (parsed.customer_id, parsed.subscription_id)
