"""Sign-in links and sessions: the rules, on memory adapters with a frozen clock."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from adapters.clock import FrozenClock
from saascore import auth
from saascore.errors import InvalidInput, NotAuthenticated, NotFound, TokenExpired, TokenInvalid
from saascore.models import Actor, OutboxMessage
from tests.support.context import tx_of, unsealed
from tests.support.world import World

POLICY = auth.AuthPolicy(base_url="https://app.example.com")
ACTOR = Actor(user_id=None, ip="198.51.100.7", user_agent="Browser/1", request_id="req-1")


@pytest.fixture
def world() -> World:
    return World.in_memory()


def clock_of(world: World) -> FrozenClock:
    clock = world.services.clock
    assert isinstance(clock, FrozenClock)
    return clock


async def ask(
    world: World, email: str, policy: auth.AuthPolicy = POLICY, next_path: str | None = None
) -> None:
    s = world.services
    await world.run(
        lambda uow: auth.request_login_link(
            tx_of(s, uow, ACTOR, policy), email=email, next_path=next_path
        )
    )
    clock_of(world).advance(microseconds=1)  # so "the newest email" is well defined


async def outbox(world: World) -> list[OutboxMessage]:
    """The queued emails, oldest first, their sealed bodies opened."""
    rows = reversed(await world.run(lambda uow: uow.outbox.list(limit=100)))
    return [await unsealed(world.services, row) for row in rows]


async def last_token(world: World) -> str:
    text = (await outbox(world))[-1].message.text
    match = re.search(r"/auth/confirm\?token=([A-Za-z0-9_-]+)", text)
    assert match, text
    return match.group(1)


async def confirm(world: World, token: str, policy: auth.AuthPolicy = POLICY) -> auth.SignedIn:
    s = world.services
    return await world.run(
        lambda uow: auth.confirm_login_link(tx_of(s, uow, ACTOR, policy), token=token)
    )


async def authenticate(world: World, token: str | None) -> tuple[object, object]:
    s = world.services
    return await world.run(lambda uow: auth.authenticate(tx_of(s, uow, None, POLICY), token))


class TestRequestLink:
    async def test_the_link_is_emailed_through_the_outbox(self, world: World) -> None:
        """The email, with a link to the confirm page, waits in the outbox."""
        await ask(world, " Fran@Example.com ")

        [queued] = await outbox(world)
        assert ("fran@example.com", "Your sign-in link", "req-1") == (
            queued.message.to,
            queued.message.subject,
            queued.request_id,
        )
        assert "https://app.example.com/auth/confirm?token=" in queued.message.text
        assert "expires in 10 minutes" in (queued.message.html or "")

    async def test_only_a_hash_of_the_token_is_stored(self, world: World) -> None:
        """The token itself exists only in the email; it is 32 random bytes."""
        await ask(world, "fran@example.com")
        token = await last_token(world)

        link = await world.run(lambda uow: uow.login_links.get_by_hash(auth.hash_token(token)))

        assert link is not None
        assert token not in repr(link)
        assert len(token) >= 43  # 32 bytes, URL-safe base64

    async def test_known_and_unknown_addresses_get_the_same_treatment(self, world: World) -> None:
        """With sign-up on, both get a link: nothing tells them apart."""
        await world.user("known@example.com")

        await ask(world, "known@example.com")
        await ask(world, "unknown@example.com")

        known, unknown = await outbox(world)
        assert known.message.subject == unknown.message.subject

    async def test_with_signup_off_unknown_addresses_are_told_so_by_email(
        self, world: World
    ) -> None:
        """No link for an address without an account, but an email all the same."""
        closed = auth.AuthPolicy(base_url="https://app.example.com", signup_enabled=False)

        await ask(world, "stranger@example.com", closed)

        [queued] = await outbox(world)
        assert "there is no account" in " ".join(queued.message.text.split())
        assert "token=" not in queued.message.text

    async def test_a_new_link_cancels_the_older_ones(self, world: World) -> None:
        """Only the newest link works."""
        await ask(world, "fran@example.com")
        old = await last_token(world)
        await ask(world, "fran@example.com")
        new = await last_token(world)

        with pytest.raises(TokenInvalid):
            await confirm(world, old)
        assert "fran@example.com" == (await confirm(world, new)).user.email

    @pytest.mark.parametrize(
        "next_path",
        [
            "https://evil.example/",
            "//evil.example/x",
            "/\\evil.example",
            "javascript:alert(1)",
            "relative/path",
            "/ok\nSet-Cookie: x",
            "/" + "x" * 600,
        ],
    )
    async def test_next_must_be_a_path_on_this_site(self, world: World, next_path: str) -> None:
        """Open redirects are refused as bad input naming the field."""
        with pytest.raises(InvalidInput) as caught:
            await ask(world, "fran@example.com", next_path=next_path)

        assert ["next"] == list(caught.value.fields)

    async def test_bad_addresses_are_refused(self, world: World) -> None:
        """An address that is not one is bad input."""
        with pytest.raises(InvalidInput):
            await ask(world, "not-an-email")


class TestConfirmLink:
    async def test_first_sign_in_creates_the_account(self, world: World) -> None:
        """An unknown address gets an account, a session and its next path."""
        await ask(world, "new@example.com", next_path="/workspaces?tab=members")

        signed_in = await confirm(world, await last_token(world))

        assert (True, "new@example.com", "/workspaces?tab=members") == (
            signed_in.new_user,
            signed_in.user.email,
            signed_in.next_path,
        )
        assert signed_in.user.last_login_at == clock_of(world).now()

    async def test_a_link_works_once(self, world: World) -> None:
        """Reusing a link is TokenInvalid."""
        await ask(world, "fran@example.com")
        token = await last_token(world)
        await confirm(world, token)

        with pytest.raises(TokenInvalid):
            await confirm(world, token)

    async def test_a_link_expires(self, world: World) -> None:
        """After its lifetime a link is TokenExpired, and checking it consumed nothing."""
        await ask(world, "fran@example.com")
        token = await last_token(world)
        s = world.services
        await world.run(lambda uow: auth.check_login_link(tx_of(s, uow), token))

        clock_of(world).advance(minutes=10)

        with pytest.raises(TokenExpired):
            await confirm(world, token)

    async def test_the_lifetime_is_settable_to_seconds(self, world: World) -> None:
        """A 5-second link works at 4 s and not at 5 s."""
        short = auth.AuthPolicy(
            base_url="https://app.example.com", login_link_ttl=timedelta(seconds=5)
        )
        await ask(world, "a@example.com", short)
        first = await last_token(world)
        await ask(world, "b@example.com", short)
        second = await last_token(world)

        clock_of(world).advance(seconds=3.9)
        await confirm(world, first, short)
        clock_of(world).advance(seconds=1.1)
        with pytest.raises(TokenExpired):
            await confirm(world, second, short)

    async def test_tokens_never_issued_are_invalid(self, world: World) -> None:
        """A made-up token is TokenInvalid."""
        with pytest.raises(TokenInvalid):
            await confirm(world, "made-up-token")

    async def test_sign_in_is_audited_with_ip_and_request_id(self, world: World) -> None:
        """auth.login names the user, the session, the address and the request."""
        await ask(world, "fran@example.com")
        signed_in = await confirm(world, await last_token(world))

        event = (await world.audit())[-1]
        assert ("auth.login", signed_in.user.id, "198.51.100.7", "req-1") == (
            event.action,
            event.actor_id,
            event.ip,
            event.request_id,
        )
        assert signed_in.session.id == event.data["session"]

    async def test_every_sign_in_gets_a_new_session_and_token(self, world: World) -> None:
        """Signing in twice makes two sessions with different tokens."""
        tokens = []
        for _ in range(2):
            await ask(world, "fran@example.com")
            tokens.append((await confirm(world, await last_token(world))).token)

        assert tokens[0] != tokens[1]
        for token in tokens:
            await authenticate(world, token)


class TestSessions:
    async def signed_in(self, world: World) -> auth.SignedIn:
        await ask(world, "fran@example.com")
        return await confirm(world, await last_token(world))

    async def test_the_token_finds_its_user(self, world: World) -> None:
        """authenticate returns the user and session a token belongs to."""
        signed_in = await self.signed_in(world)

        user, session = await authenticate(world, signed_in.token)

        assert (signed_in.user.id, signed_in.session.id) == (user.id, session.id)  # type: ignore[attr-defined]

    @pytest.mark.parametrize("token", [None, "", "forged-token-the-server-never-issued"])
    async def test_missing_and_forged_tokens_are_rejected(
        self, world: World, token: str | None
    ) -> None:
        """Only a token the server issued signs anyone in."""
        await self.signed_in(world)

        with pytest.raises(NotAuthenticated):
            await authenticate(world, token)

    async def test_idle_sessions_end(self, world: World) -> None:
        """A session unused for the idle lifetime is over; use keeps it alive."""
        signed_in = await self.signed_in(world)
        clock = clock_of(world)

        clock.advance(days=6)
        await authenticate(world, signed_in.token)
        clock.advance(days=6)
        await authenticate(world, signed_in.token)
        clock.advance(days=7)

        with pytest.raises(NotAuthenticated):
            await authenticate(world, signed_in.token)

    async def test_short_idle_lifetimes_are_kept_alive_by_use(self, world: World) -> None:
        """With a 10-second idle lifetime, a request every 6 seconds keeps the session."""
        short = auth.AuthPolicy(
            base_url="https://app.example.com", session_idle_ttl=timedelta(seconds=10)
        )
        await ask(world, "fran@example.com")
        signed_in = await confirm(world, await last_token(world), short)
        s = world.services

        for _ in range(5):
            clock_of(world).advance(seconds=6)
            await world.run(
                lambda uow: auth.authenticate(tx_of(s, uow, None, short), signed_in.token)
            )
        clock_of(world).advance(seconds=10)

        with pytest.raises(NotAuthenticated):
            await world.run(
                lambda uow: auth.authenticate(tx_of(s, uow, None, short), signed_in.token)
            )

    async def test_sessions_end_at_their_absolute_lifetime(self, world: World) -> None:
        """However active, a session ends 30 days after sign-in."""
        signed_in = await self.signed_in(world)
        clock = clock_of(world)

        for _ in range(4):
            clock.advance(days=6)
            await authenticate(world, signed_in.token)
        clock.advance(days=5, hours=23)
        await authenticate(world, signed_in.token)
        clock.advance(hours=1)

        with pytest.raises(NotAuthenticated):
            await authenticate(world, signed_in.token)

    async def test_sign_out_ends_only_this_session(self, world: World) -> None:
        """The other sessions of the user go on."""
        first, second = await self.signed_in(world), await self.signed_in(world)
        s = world.services

        await world.run(lambda uow: auth.sign_out(tx_of(s, uow, ACTOR), first.session))

        with pytest.raises(NotAuthenticated):
            await authenticate(world, first.token)
        await authenticate(world, second.token)
        assert "auth.logout" == (await world.audit())[-1].action

    async def test_sign_out_everywhere_ends_all(self, world: World) -> None:
        """Every session of the user ends."""
        first, second = await self.signed_in(world), await self.signed_in(world)
        s = world.services

        ended = await world.run(
            lambda uow: auth.sign_out_everywhere(tx_of(s, uow, ACTOR), first.user)
        )

        assert 2 == ended
        for token in (first.token, second.token):
            with pytest.raises(NotAuthenticated):
                await authenticate(world, token)

    async def test_users_revoke_their_own_sessions_only(self, world: World) -> None:
        """Revoking someone else's session is NotFound."""
        mine = await self.signed_in(world)
        await ask(world, "other@example.com")
        theirs = await confirm(world, await last_token(world))
        s = world.services

        with pytest.raises(NotFound):
            await world.run(
                lambda uow: auth.revoke_session(tx_of(s, uow, ACTOR), mine.user, theirs.session.id)
            )
        await world.run(
            lambda uow: auth.revoke_session(tx_of(s, uow, ACTOR), mine.user, mine.session.id)
        )

        with pytest.raises(NotAuthenticated):
            await authenticate(world, mine.token)
        await authenticate(world, theirs.token)
