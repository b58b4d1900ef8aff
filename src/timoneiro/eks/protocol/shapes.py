"""Scalars as botocore's models type them, in both directions: text from the wire (URI labels, query
strings, headers, the Query protocol's form fields) into Python values, and timestamps, which handlers keep
as epoch seconds, into what each protocol writes."""

from __future__ import annotations

import base64
import binascii
import datetime

from botocore.model import Shape, StructureShape
from botocore.utils import parse_timestamp


class Invalid(Exception):
    """A request member that does not fit its shape: `where` is its path ('scalingConfig.minSize')."""

    def __init__(self, where: str, value: object, constraint: str) -> None:
        shown = "null" if value is None else f"'{value}'"
        super().__init__(f"1 validation error detected: Value {shown} at '{where}' failed to satisfy "
                         f"constraint: {constraint}")


def from_text(shape: Shape, text: str, where: str) -> object:
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("float", "double"):
            return float(text)
        if kind == "boolean":
            if text not in ("true", "false"):
                raise ValueError(text)
            return text == "true"
        if kind == "timestamp":
            return epoch(text)
        if kind == "blob":
            return base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise Invalid(where, text, f"Member must be of type {kind}") from None
    return text


def epoch(value: object) -> float:
    """Seconds since the epoch from what a request or a handler may hold: a number, a datetime, or text
    (ISO 8601, RFC 822, or digits)."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, str):
        return parse_timestamp(value).timestamp()
    raise ValueError(value)


def iso8601(value: object) -> str:
    """A timestamp as the Query protocol writes it: UTC to the millisecond, 2024-05-01T12:00:00.123Z."""
    moment = datetime.datetime.fromtimestamp(epoch(value), datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def check_required(shape: StructureShape, parsed: dict, prefix: str) -> None:
    for name in shape.required_members:
        if parsed.get(name) is None:
            raise Invalid(f"{prefix}{name}", None, "Member must not be null")


def serialized_name(shape: Shape, default: str) -> str:
    return shape.serialization.get("name", default)
