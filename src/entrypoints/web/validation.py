"""Every bad field of a JSON body, not just the first.

Litestar decodes bodies into the handler's declared type and stops at the first error.
When that happens, the problem handler asks ``body_errors`` to check the (cached) body
again with a strict cattrs converter, which reports every field at once.
"""

from __future__ import annotations

import enum
import json
from typing import Any

import cattrs
from cattrs.errors import ClassValidationError
from litestar import Request
from litestar.utils.scope.state import ScopeState


def _exact(kind: type, name: str) -> Any:
    def hook(value: Any, type_: type) -> Any:
        # bool is an int to Python, and cattrs would turn 5 into "5": neither is sent on
        # purpose, so both are errors here.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise TypeError(f"must be {name}")
        if issubclass(type_, enum.Enum):  # a StrEnum reaches the str hook first
            return type_(value)
        return value

    return hook


_strict = cattrs.Converter()
_strict.register_structure_hook(str, _exact(str, "a string"))
_strict.register_structure_hook(int, _exact(int, "a whole number"))
_strict.register_structure_hook(bool, _exact(bool, "true or false"))


def _message(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, KeyError):
        return "is required"
    if isinstance(type_, type) and issubclass(type_, enum.Enum):
        return "must be one of " + ", ".join(str(m.value) for m in type_)
    return str(exc) or "is not valid"


def body_errors(request: Request[Any, Any, Any]) -> list[dict[str, str]]:
    """Every problem with the request's JSON body against the handler's ``data`` type, or
    an empty list when there is nothing more to say than Litestar did."""
    field = request.route_handler.parsed_fn_signature.parameters.get("data")
    body = ScopeState.from_scope(request.scope).body
    if (
        field is None
        or not isinstance(body, bytes)
        or not hasattr(field.annotation, "__attrs_attrs__")
    ):
        return []
    try:
        _strict.structure(json.loads(body), field.annotation)
    except ClassValidationError as exc:
        found = []
        for line in cattrs.transform_error(exc, path="$", format_exception=_message):
            message, _, path = line.rpartition(" @ ")
            found.append({"field": path.removeprefix("$.") or "body", "message": message})
        return found
    except (ValueError, TypeError, AttributeError):
        return []  # not an object at all: Litestar's own message says it best
    return []
