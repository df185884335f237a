"""Rate-limit policies, from settings: the general one and the stricter sign-in ones."""

from __future__ import annotations

from attrs import frozen

from entrypoints.settings import Settings
from saascore.models import RateLimit


@frozen
class Policies:
    general: RateLimit
    login_link_per_email: RateLimit
    login_link_per_ip: RateLimit
    confirm_per_ip: RateLimit
    invites_per_workspace: RateLimit
    webhook_per_ip: RateLimit

    @classmethod
    def from_settings(cls, settings: Settings) -> Policies:
        login_window = settings.login_link_limit_window_minutes * 60
        return cls(
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
