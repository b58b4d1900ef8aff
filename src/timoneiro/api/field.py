"""Field errors with the paths and texts kube-apiserver puts in a 422 Invalid Status."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

_MISSING: Any = object()

# error type -> (cause reason, the words upstream prints before the value)
_TYPES = {
    "Required": ("FieldValueRequired", "Required value"),
    "Invalid": ("FieldValueInvalid", "Invalid value"),
    "NotSupported": ("FieldValueNotSupported", "Unsupported value"),
    "Duplicate": ("FieldValueDuplicate", "Duplicate value"),
    "Forbidden": ("FieldValueForbidden", "Forbidden"),
    "TooLong": ("FieldValueTooLong", "Too long"),
    "TooMany": ("FieldValueTooMany", "Too many"),
    "NotFound": ("FieldValueNotFound", "Not found"),
    "TypeInvalid": ("FieldValueTypeInvalid", "Invalid value"),
    "Internal": ("InternalError", "Internal error"),
}
_NO_VALUE = {"Required", "Forbidden", "TooLong", "Internal"}


class Rendered(str):
    """A bad value already printed the way Go prints it (map[string]string{"app":"x"}), shown as is."""


def _go_value(value: Any) -> str:
    """Render a bad value the way Go's %v / %q / %#v do for the common types."""
    if isinstance(value, Rendered):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


@dataclass
class FieldError:
    type: str
    field: str
    detail: str = ""
    value: Any = _MISSING

    @property
    def reason(self) -> str:
        return _TYPES[self.type][0]

    def body(self) -> str:
        words = _TYPES[self.type][1]
        if self.type in _NO_VALUE or self.value is _MISSING:
            text = words
        else:
            text = f"{words}: {_go_value(self.value)}"
        return f"{text}: {self.detail}" if self.detail else text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"

    def cause(self) -> dict:
        return {"reason": self.reason, "message": self.body(), "field": self.field}


def required(field: str, detail: str = "") -> FieldError:
    return FieldError("Required", field, detail)


def invalid(field: str, value: Any, detail: str = "") -> FieldError:
    return FieldError("Invalid", field, detail, value)


def not_supported(field: str, value: Any, supported: list[str]) -> FieldError:
    detail = "supported values: " + ", ".join(json.dumps(s) for s in supported) if supported else ""
    return FieldError("NotSupported", field, detail, value)


def duplicate(field: str, value: Any) -> FieldError:
    return FieldError("Duplicate", field, "", value)


def forbidden(field: str, detail: str) -> FieldError:
    return FieldError("Forbidden", field, detail)


def too_long(field: str, limit: int) -> FieldError:
    return FieldError("TooLong", field, f"may not be more than {limit} bytes")


def not_found(field: str, value: Any) -> FieldError:
    return FieldError("NotFound", field, "", value)


def aggregate(errors: list[FieldError]) -> str:
    """Join errors the way utilerrors.NewAggregate prints them."""
    if len(errors) == 1:
        return str(errors[0])
    return "[" + ", ".join(str(e) for e in errors) + "]"
