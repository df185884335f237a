"""saascore: the backbone every SaaS product rebuilds.

The hexagon: models, ports, use cases and errors. Only the standard library and attrs.
"""

from saascore.errors import (
    BillingNotConfigured,
    BillingUnavailable,
    Conflict,
    DatabaseUnavailable,
    DeliveryFailed,
    ExternalServiceError,
    InvalidInput,
    LastOwner,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    RateLimited,
    SaasCoreError,
    SeatLimit,
    TokenExpired,
    TokenInvalid,
)
from saascore.models import (
    Actor,
    AuditEvent,
    Membership,
    MemberView,
    Role,
    User,
    Workspace,
    WorkspaceSummary,
)
from saascore.ports import (
    AuditLog,
    Clock,
    Ids,
    MembershipRepository,
    UnitOfWork,
    UnitOfWorkFactory,
    UserRepository,
    WorkspaceRepository,
)

__version__ = "0.1.0"

__all__ = [
    "Actor",
    "AuditEvent",
    "AuditLog",
    "BillingNotConfigured",
    "BillingUnavailable",
    "Clock",
    "Conflict",
    "DatabaseUnavailable",
    "DeliveryFailed",
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
    "RateLimited",
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
