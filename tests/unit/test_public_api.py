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
            "AuthPolicy",
            "BillingGateway",
            "BillingLedger",
            "BillingNotConfigured",
            "BillingPolicy",
            "BillingUnavailable",
            "Clock",
            "Conflict",
            "Ctx",
            "DatabaseUnavailable",
            "DeliveryFailed",
            "DeliveryPolicy",
            "Deps",
            "EmailMessage",
            "EmailSender",
            "ExternalServiceError",
            "Gone",
            "Ids",
            "InvalidInput",
            "InviteGone",
            "InvitePolicy",
            "InviteRepository",
            "LastOwner",
            "LimitExceeded",
            "LoginLinkRepository",
            "MemberView",
            "Membership",
            "MembershipRepository",
            "NotAuthenticated",
            "NotFound",
            "Outbox",
            "PermissionDenied",
            "RateDecision",
            "RateLimit",
            "RateLimited",
            "RateLimiter",
            "RateLimits",
            "Role",
            "SaasCoreError",
            "SeatLimit",
            "SessionRepository",
            "SignedIn",
            "SubscriptionRepository",
            "TokenExpired",
            "TokenInvalid",
            "Tx",
            "UnitOfWork",
            "UnitOfWorkFactory",
            "User",
            "UserRepository",
            "WebhookRejected",
            "Workspace",
            "WorkspaceRepository",
            "WorkspaceSummary",
            "__version__",
            "accept_invite",
            "add_member",
            "apply_event",
            "authenticate",
            "billing_status",
            "change_role",
            "check_login_link",
            "confirm_login_link",
            "create_invite",
            "create_workspace",
            "decline_invite",
            "delete_workspace",
            "deliver_due",
            "disable_user",
            "enable_user",
            "find_user",
            "flush",
            "get_user",
            "get_workspace",
            "leave_workspace",
            "list_invites",
            "list_members",
            "list_sessions",
            "list_users",
            "list_workspaces",
            "open_portal",
            "prune",
            "read_audit_log",
            "receive_event",
            "register_user",
            "remove_member",
            "rename_user",
            "rename_workspace",
            "replay_events",
            "request_login_link",
            "resend_invite",
            "revoke_invite",
            "revoke_session",
            "set_collection",
            "sign_out",
            "sign_out_everywhere",
            "start_checkout",
            "sync_all",
            "sync_subscription",
            "transfer_ownership",
            "view_invite",
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
