"""The emails saascore sends, rendered from the text and HTML templates beside this module.

Values are HTML-escaped in the HTML part; templates use ``string.Template`` placeholders.
"""

from __future__ import annotations

import html
from datetime import timedelta
from functools import cache
from importlib.resources import files
from string import Template

from saascore.models import EmailMessage


@cache
def _template(name: str) -> Template:
    return Template(files("saascore").joinpath("templates", name).read_text(encoding="utf-8"))


def render(to: str, subject: str, template: str, **values: str) -> EmailMessage:
    """Render ``template``.txt and ``template``.html into one message."""
    text = _template(f"{template}.txt").substitute(values)
    escaped = {key: html.escape(value, quote=True) for key, value in values.items()}
    return EmailMessage(
        to=to,
        subject=subject,
        text=text,
        html=_template(f"{template}.html").substitute(escaped),
    )


def login_link_email(to: str, link: str, ttl: timedelta) -> EmailMessage:
    minutes = max(1, round(ttl.total_seconds() / 60))
    return render(to, "Your sign-in link", "login_link", link=link, minutes=str(minutes))


def no_account_email(to: str, base_url: str) -> EmailMessage:
    return render(to, "Sign-in attempt", "no_account", base_url=base_url)


def invite_email(
    to: str, link: str, workspace: str, inviter: str, role: str, ttl: timedelta
) -> EmailMessage:
    days = max(1, round(ttl.total_seconds() / 86400))
    return render(
        to,
        f"{inviter} invited you to {workspace}",
        "invite",
        link=link,
        workspace=workspace,
        inviter=inviter,
        role=role,
        days=str(days),
    )


def account_disabled_email(to: str, base_url: str) -> EmailMessage:
    return render(to, "Sign-in attempt", "account_disabled", base_url=base_url)


def payment_failed_email(
    to: str, workspace: str, plan: str, grace_ends: str, billing_url: str
) -> EmailMessage:
    return render(
        to,
        f"Payment failed for {workspace}",
        "payment_failed",
        workspace=workspace,
        plan=plan,
        grace_ends=grace_ends,
        billing_url=billing_url,
    )
