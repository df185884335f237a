"""`saascore billing` on seeded SQLite and Postgres databases; sync, replay, pause and resume
against a local Stripe-compatible server (localstripe) through the real Stripe adapter."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from adapters.sql.tables import subscriptions
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import load_settings
from saascore import billing as bl
from saascore.models import Actor
from tests.integration.test_admin_cli import execute, fails, json_of, ok, run, url
from tests.support.context import ctx_of
from tests.support.stripe_server import LocalStripe, running_localstripe

__all__ = ["url"]  # the seeded-database fixture, used by name

PRICE = "price_pro_monthly"


@pytest.fixture(scope="module")
def localstripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStripe]:
    with running_localstripe(tmp_path_factory.mktemp("localstripe")) as server:
        server.create_plan(PRICE)
        yield server


def stripe_env(server: LocalStripe) -> dict[str, str]:
    return {
        "BILLING_BACKEND": "stripe",
        "STRIPE_SECRET_KEY": "sk_test_saascore",
        "STRIPE_WEBHOOK_SECRET": "whsec_saascore",
        "STRIPE_API_BASE": server.api_base,
    }


def pay_for_pro(url: str, server: LocalStripe, slug: str) -> None:
    """The owner pays through checkout; no webhook reaches the app (none is registered)."""

    async def go() -> None:
        environ = {"DATABASE_URL": url, "ENVIRONMENT": "test", **stripe_env(server)}
        services = bootstrap(load_settings(environ, env_file=None))
        try:
            async with services.uow() as uow:
                workspace = await uow.workspaces.get_by_slug(slug)
            assert workspace is not None
            start = await bl.start_checkout(
                ctx_of(services, Actor.system(), services.billing_policy), workspace.id, plan="pro"
            )
            await server.complete_checkout(start.url.rstrip("/").rsplit("/", 1)[1])
        finally:
            await services.aclose()

    asyncio.run(go())


def status_of(url: str, slug: str, **env: str) -> dict[str, object]:
    result = run(url, "billing", "status", slug, "--json", **env)
    assert 0 == result.exit_code, result.output
    status: dict[str, object] = json.loads(result.stdout)
    return status


class TestOffline:
    def test_plans_are_listed_free_first(self, url: str) -> None:
        table = ok(url, "billing", "plans")
        plans = json_of(url, "billing", "plans")

        assert table.splitlines()[0].split() == ["PLAN", "PRICE", "ID", "SEATS"]
        assert ["free", "pro", "business"] == [p["name"] for p in plans]
        assert (None, 5) == (plans[0]["price_id"], plans[0]["seat_limit"])

    def test_status_shows_the_seeded_billing_states(self, url: str) -> None:
        rows = {r["workspace"]: r for r in json_of(url, "billing", "status")}

        assert ("free", None, 3) == tuple(
            rows["acme-inc"][k] for k in ("plan", "status", "seats_used")
        )
        assert ("pro", "active", True) == tuple(
            rows["demo-studio"][k] for k in ("plan", "status", "entitled")
        )
        initech = rows["initech"]
        assert ("pro", "past_due", True) == (
            initech["plan"],
            initech["status"],
            initech["entitled"],
        )
        assert initech["grace_ends_at"] is not None

    def test_no_webhook_yet_is_said_plainly(self, url: str) -> None:
        assert "no billing events received yet" in ok(url, "billing", "events")

    def test_sync_needs_a_workspace_or_all(self, url: str) -> None:
        result = run(url, "billing", "sync")

        assert 2 == result.exit_code
        assert "--all" in result.output

    def test_replay_refuses_a_time_it_cannot_read(self, url: str) -> None:
        assert "since" in fails(url, 7, "billing", "replay", "--since", "last tuesday")

    def test_stripe_without_its_keys_refuses_to_start(self, url: str) -> None:
        result = run(url, "billing", "status", BILLING_BACKEND="stripe")

        assert 3 == result.exit_code
        assert "STRIPE_SECRET_KEY: required when BILLING_BACKEND=stripe" in result.output
        assert "STRIPE_WEBHOOK_SECRET: required when BILLING_BACKEND=stripe" in result.output
        assert "Traceback" not in result.output


class TestAgainstStripe:
    def test_replay_applies_what_stripe_could_not_deliver(
        self, url: str, localstripe: LocalStripe
    ) -> None:
        env = stripe_env(localstripe)
        pay_for_pro(url, localstripe, "acme-inc")
        before = status_of(url, "acme-inc", **env)

        first = run(url, "billing", "replay", "--since", "1h", **env)
        second = run(url, "billing", "replay", "--since", "1h", **env)

        assert (None, "free") == (before["status"], before["plan"])
        assert 0 == first.exit_code, first.output
        assert "checkout.session.completed: applied" in first.stdout
        assert ", 0 new" in second.stdout
        after = status_of(url, "acme-inc", **env)
        assert ("active", "pro", 25) == (after["status"], after["plan"], after["seat_limit"])
        events = json_of(url, "billing", "events")
        assert "checkout.session.completed" in {e["type"] for e in events}
        assert "newest event received 0 min ago" in ok(url, "billing", "events")

    def test_sync_repairs_a_hand_edited_subscription(
        self, url: str, localstripe: LocalStripe
    ) -> None:
        env = stripe_env(localstripe)
        pay_for_pro(url, localstripe, "acme-inc")
        ok_replay = run(url, "billing", "replay", "--since", "1h", **env)
        assert 0 == ok_replay.exit_code, ok_replay.output
        sub_id = status_of(url, "acme-inc", **env)["subscription_id"]
        execute(
            url,
            update(subscriptions)
            .where(subscriptions.c.subscription_id == sub_id)
            .values(status="canceled", price_id="price_old"),
        )

        repaired = run(url, "billing", "sync", "acme-inc", **env)
        again = run(url, "billing", "sync", "--all", **env)

        assert 0 == repaired.exit_code, repaired.output
        assert (
            f"acme-inc: repaired {sub_id}: status canceled -> active, "
            f"price_id price_old -> {PRICE}\n"
        ) == repaired.stdout
        assert f"acme-inc: in sync ({sub_id})" in again.stdout
        assert "demo-studio: the billing provider knows no subscription" in again.stdout
        assert ("active", "pro") == tuple(
            status_of(url, "acme-inc", **env)[k] for k in ("status", "plan")
        )

    def test_pause_and_resume_collection(self, url: str, localstripe: LocalStripe) -> None:
        env = stripe_env(localstripe)
        pay_for_pro(url, localstripe, "acme-inc")
        run(url, "billing", "replay", "--since", "1h", **env)

        paused = run(url, "billing", "pause", "acme-inc", **env)
        while_paused = status_of(url, "acme-inc", **env)
        resumed = run(url, "billing", "resume", "acme-inc", **env)

        assert 0 == paused.exit_code, paused.output
        assert "acme-inc: payment collection paused for sub_" in paused.stdout
        assert (True, "active") == (while_paused["collection_paused"], while_paused["status"])
        assert 0 == resumed.exit_code, resumed.output
        assert status_of(url, "acme-inc", **env)["collection_paused"] is False

    def test_pausing_without_a_subscription_is_not_found(
        self, url: str, localstripe: LocalStripe
    ) -> None:
        result = run(url, "billing", "pause", "acme-inc", **stripe_env(localstripe))

        assert 4 == result.exit_code
        assert "no live subscription" in result.output

    def test_replaying_an_unknown_event_is_not_found(
        self, url: str, localstripe: LocalStripe
    ) -> None:
        result = run(url, "billing", "replay", "evt_nope", **stripe_env(localstripe))

        assert 4 == result.exit_code
        assert "evt_nope" in result.output

    def test_stripe_down_is_exit_10_with_one_line(self, url: str, tmp_path: Path) -> None:
        env = {
            "BILLING_BACKEND": "stripe",
            "STRIPE_SECRET_KEY": "sk_test_saascore",
            "STRIPE_WEBHOOK_SECRET": "whsec_saascore",
            "STRIPE_API_BASE": "http://127.0.0.1:9",
            "STRIPE_TIMEOUT_SECONDS": "2",
        }

        result = run(url, "billing", "replay", "--since", "1h", **env)

        assert 10 == result.exit_code
        assert 1 == len(result.output.strip().splitlines())
        assert "Stripe" in result.output
