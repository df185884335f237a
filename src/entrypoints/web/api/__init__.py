"""The JSON API under ``/api``."""

from entrypoints.web.api.auth import AuthController
from entrypoints.web.api.billing import BillingController
from entrypoints.web.api.invitations import InvitationsController
from entrypoints.web.api.me import MeController
from entrypoints.web.api.workspace_detail import WorkspaceController
from entrypoints.web.api.workspace_list import WorkspacesController

CONTROLLERS = [
    AuthController,
    BillingController,
    InvitationsController,
    MeController,
    WorkspaceController,
    WorkspacesController,
]

__all__ = ["CONTROLLERS"]
