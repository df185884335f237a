"""Use cases for subscription billing.

Rules:
- plans come from configuration; a workspace with no subscription, or one that does not
  entitle, is on the free plan. Trialing and active entitle; past_due keeps the plan for a
  grace period counted from when it fell past due; every other status does not;
- seat limits are enforced where seats are taken: inviting (members plus live invites) and
  accepting (members);
- only owners start a checkout or open the portal; a workspace with a live subscription is
  sent to the portal instead of a second checkout; deleting a workspace cancels first;
- every provider event is recorded once in the ledger, so a duplicate changes nothing; the
  subscription is re-fetched from the provider before it is stored when the provider
  answers, and an event older than the last one applied never rolls the record back; a
  canceled subscription never comes back to life;
- the provider is never called inside a database transaction: a slow provider holds no lock;
- every billing change is an audit event; a failed payment emails the owners.
"""

from saascore.billing.events import (
    HANDLED_EVENTS,
    REPLAY_LIMIT,
    SUBSCRIPTION_EVENTS,
    Replayed,
    apply_event,
    changes,
    merge,
    receive_event,
    replay_events,
)
from saascore.billing.operators import SyncResult, set_collection, sync_all, sync_subscription
from saascore.billing.owners import open_portal, owners_record, start_checkout
from saascore.billing.plans import (
    ENTITLING,
    billing_status,
    ensure_seat,
    grace_ends_at,
    is_entitled,
    plan_of,
    seats_used,
)
from saascore.policies import FREE, BillingPolicy
from saascore.workspaces import delete_workspace

__all__ = [
    "ENTITLING",
    "FREE",
    "HANDLED_EVENTS",
    "REPLAY_LIMIT",
    "SUBSCRIPTION_EVENTS",
    "BillingPolicy",
    "Replayed",
    "SyncResult",
    "apply_event",
    "billing_status",
    "changes",
    "delete_workspace",
    "ensure_seat",
    "grace_ends_at",
    "is_entitled",
    "merge",
    "open_portal",
    "owners_record",
    "plan_of",
    "receive_event",
    "replay_events",
    "seats_used",
    "set_collection",
    "start_checkout",
    "sync_all",
    "sync_subscription",
]
