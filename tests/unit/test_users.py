"""User rules: normalised unique emails and sensible names."""

from __future__ import annotations

import pytest

from entrypoints.cli.common import printable
from saascore.errors import Conflict, InvalidInput, NotFound
from saascore.users import clean_name, find_user, normalise_email
from tests.support.context import tx_of
from tests.support.world import World


class TestNormaliseEmail:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("  Fran@Example.COM ", "fran@example.com"),
            ("a.b+tag@sub.example.org", "a.b+tag@sub.example.org"),
        ],
    )
    def test_trims_and_lowercases(self, raw: str, expected: str) -> None:
        """Emails compare case-insensitively, so they are stored lower-case."""
        assert expected == normalise_email(raw)

    @pytest.mark.parametrize(
        "raw",
        [
            "",
            "fran",
            "fran@",
            "@example.com",
            "fran@example",
            "a b@example.com",
            "a@b@example.com",
            "x" * 250 + "@example.com",
        ],
    )
    def test_refuses_what_is_not_an_email(self, raw: str) -> None:
        """Anything that is not one address is InvalidInput naming the email field."""
        with pytest.raises(InvalidInput) as caught:
            normalise_email(raw)
        assert list(caught.value.fields) == ["email"]


class TestRegisterUser:
    async def test_emails_are_unique_whatever_their_case(self) -> None:
        """A second account for the same address is a Conflict."""
        world = World.in_memory()
        await world.user("fran@example.com")

        with pytest.raises(Conflict):
            await world.user("FRAN@example.com")

    async def test_the_name_defaults_to_the_local_part(self) -> None:
        """Users who give no name are called by their email's local part."""
        world = World.in_memory()

        user = await world.user("fran.founder@example.com")

        assert user.name == "fran.founder"

    async def test_users_are_found_by_any_spelling_of_their_email(self) -> None:
        """Lookups normalise the address first."""
        world = World.in_memory()
        user = await world.user("fran@example.com")

        assert user == await world.run(lambda uow: find_user(tx_of(None, uow), " Fran@EXAMPLE.com"))
        with pytest.raises(NotFound):
            await world.run(lambda uow: find_user(tx_of(None, uow), "nobody@example.com"))


@pytest.mark.parametrize("bad", ["Ada\x1b[2J", "Bell\x07", "Nul\x00", "evil\u202eexe.txt"])
def test_names_and_addresses_refuse_control_characters(bad: str) -> None:
    """Escape sequences, BEL, NUL and bidi overrides would rewrite what operators and
    members see: refused in names and in addresses."""
    with pytest.raises(InvalidInput, match="control characters"):
        clean_name(bad)
    with pytest.raises(InvalidInput):
        normalise_email(f"{bad}@example.com")


def test_the_cli_shows_control_characters_escaped() -> None:
    assert "a\\x1b[2Jb\\u202e" == printable("a\x1b[2Jb\u202e")
