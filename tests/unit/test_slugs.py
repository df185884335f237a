"""Slugs are URL-safe for any name."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from saascore.workspaces import MAX_SLUG_LENGTH, slugify

SLUG = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


class TestSlugify:
    @given(st.text())
    def test_any_name_gives_a_url_safe_slug(self, name: str) -> None:
        """Lower-case letters and digits joined by single hyphens, never too long or empty."""
        slug = slugify(name)

        assert SLUG.fullmatch(slug)
        assert len(slug) <= MAX_SLUG_LENGTH

    @given(st.from_regex(SLUG, fullmatch=True).filter(lambda s: len(s) <= MAX_SLUG_LENGTH))
    def test_a_slug_is_its_own_slug(self, slug: str) -> None:
        """Slugifying is idempotent."""
        assert slug == slugify(slug)
