"""The public surface is explicit, and the three packages come from this repository."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import saascore

SRC = Path(__file__).resolve().parents[2] / "src"


class TestPublicApi:
    def test_all_is_sorted_and_complete(self) -> None:
        """__all__ lists every export once, sorted, and each name exists."""
        assert sorted(saascore.__all__) == saascore.__all__
        assert len(set(saascore.__all__)) == len(saascore.__all__)
        for name in saascore.__all__:
            assert hasattr(saascore, name), name

    def test_exports_are_pinned(self) -> None:
        """Changing the public surface is a deliberate act: update this list with it."""
        assert saascore.__all__ == [
            "Actor",
            "AuditEvent",
            "AuditLog",
            "BillingNotConfigured",
            "BillingUnavailable",
            "Clock",
            "Conflict",
            "DatabaseUnavailable",
            "DeliveryFailed",
            "EmailMessage",
            "EmailSender",
            "ExternalServiceError",
            "Ids",
            "InvalidInput",
            "LastOwner",
            "LimitExceeded",
            "MemberView",
            "Membership",
            "MembershipRepository",
            "NotFound",
            "PermissionDenied",
            "RateDecision",
            "RateLimit",
            "RateLimited",
            "RateLimiter",
            "Role",
            "SaasCoreError",
            "SeatLimit",
            "TokenExpired",
            "TokenInvalid",
            "UnitOfWork",
            "UnitOfWorkFactory",
            "User",
            "UserRepository",
            "Workspace",
            "WorkspaceRepository",
            "WorkspaceSummary",
            "__version__",
        ]

    @pytest.mark.parametrize("package", ["saascore", "adapters", "entrypoints"])
    def test_packages_import_from_src(self, package: str) -> None:
        """`adapters` and `entrypoints` are also unrelated PyPI names: ours must win."""
        module = importlib.import_module(package)

        assert module.__file__ is not None
        assert (SRC / package) == Path(module.__file__).resolve().parent

    def test_every_error_has_a_distinct_code_under_one_root(self) -> None:
        """Clients branch on codes, so they are stable and unique per leaf class."""
        classes = [
            getattr(saascore, n)
            for n in saascore.__all__
            if isinstance(getattr(saascore, n), type)
            and issubclass(getattr(saascore, n), Exception)
        ]
        assert all(issubclass(c, saascore.SaasCoreError) for c in classes)
        codes = {c.code for c in classes if c is not saascore.TokenExpired}
        assert len(codes) == len(classes) - 1
