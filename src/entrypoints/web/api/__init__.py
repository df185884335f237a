"""The JSON API under ``/api``."""

from entrypoints.web.api.auth import AuthController
from entrypoints.web.api.me import MeController
from entrypoints.web.api.workspaces import WorkspacesController

CONTROLLERS = [AuthController, MeController, WorkspacesController]

__all__ = ["CONTROLLERS"]
