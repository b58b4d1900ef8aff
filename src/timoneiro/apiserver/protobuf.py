"""Decoding of Kubernetes protobuf request bodies into the JSON form of the object.

client-go (and so kubectl) sends built-in kinds as `application/vnd.kubernetes.protobuf` and never falls
back to JSON, so the server has to read them. The output is what Go would print after decoding the body
into the API struct and encoding it with encoding/json: omitempty drops zero scalars, nil pointers and
empty lists, while absent non-pointer structs still appear (as `{}`, or `null` for metav1.Time).
Field numbers, types and JSON names come from api/protobuf_fields.json, built from upstream's
generated.proto files and Go json tags.
"""

from __future__ import annotations

import base64
import datetime
import functools
import importlib.resources
import json
import struct
from collections.abc import Callable
from typing import Any

import orjson

MAGIC = b"k8s\x00"
_SCALARS = {"string", "int32", "int64", "bool", "bytes", "double"}
_WIRE = {"string": 2, "bytes": 2, "int32": 0, "int64": 0, "bool": 0, "double": 1}

Fields = dict[int, list[tuple[int, Any]]]


class ProtobufError(ValueError):
    """The body is not a Kubernetes protobuf object this server can read."""


@functools.cache
def _table() -> dict[str, Any]:
    with (importlib.resources.files("timoneiro.api") / "protobuf_fields.json").open("rb") as f:
        table = json.load(f)
    table["lists"] = set(table["lists"])
    return table


def decode(body: bytes) -> dict:
    """The JSON-form object in a protobuf body: the `k8s\\0` magic, then a runtime.Unknown envelope."""
    if not body.startswith(MAGIC):
        raise ProtobufError("protobuf body does not start with the k8s\\x00 magic")
    envelope = _read(memoryview(body)[len(MAGIC):])
    type_meta = _read(_last_bytes(envelope, 1))
    api_version = _text(_last_bytes(type_meta, 1))
    kind = _text(_last_bytes(type_meta, 2))
    encoding = _text(_last_bytes(envelope, 3))
    if encoding:
        raise ProtobufError(f"unsupported protobuf content encoding {encoding!r}")
    try:
        fields = _message(message_for(api_version, kind), _last_bytes(envelope, 2))
    except RecursionError as e:
        raise ProtobufError("protobuf message nested too deeply") from e
    if not isinstance(fields, dict):
        raise ProtobufError(f"{kind} is not an object kind")
    return {"kind": kind, "apiVersion": api_version, **fields}


def message_for(api_version: str, kind: str) -> str:
    """The table's message name for a kind; meta/v1 kinds (DeleteOptions, ...) are valid in every version."""
    table = _table()
    prefix = table["versions"].get(api_version)
    if prefix:
        for name in (f"{prefix}.{kind}", f"meta.v1.{kind}"):
            if name in table["messages"]:
                return name
    raise ProtobufError(f"no protobuf decoding for kind {kind!r} of apiVersion {api_version!r}")


# Wire format.

def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ProtobufError("truncated or overlong varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _read(data: memoryview) -> Fields:
    """Field number -> [(wire type, value)], in wire order; values are ints or memoryviews."""
    fields: Fields = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, pos = data[pos:pos + size], pos + size
        elif wire == 2:
            size, pos = _varint(data, pos)
            value, pos = data[pos:pos + size], pos + size
        else:
            raise ProtobufError(f"unsupported protobuf wire type {wire}")
        if pos > len(data) or number == 0:
            raise ProtobufError("truncated or malformed protobuf message")
        fields.setdefault(number, []).append((wire, value))
    return fields


def _last_bytes(fields: Fields, number: int) -> memoryview:
    values = fields.get(number)
    if not values:
        return memoryview(b"")
    wire, value = values[-1]
    if wire != 2:
        raise ProtobufError(f"field {number} should be length-delimited")
    return value


def _text(data: memoryview) -> str:
    return bytes(data).decode("utf-8", errors="replace")


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _scalar(typ: str, wire: int, value: Any) -> Any:
    if wire != _WIRE[typ]:
        raise ProtobufError(f"{typ} field sent with wire type {wire}")
    if typ == "string":
        return _text(value)
    if typ == "bytes":
        return base64.b64encode(value).decode()
    if typ == "bool":
        return value != 0
    if typ == "double":
        number = struct.unpack("<d", value)[0]
        if number != number or number in (float("inf"), float("-inf")):
            raise ProtobufError("NaN and infinity have no JSON form")
        return int(number) if number.is_integer() and abs(number) < 1e21 else number
    return _signed(value, 32 if typ == "int32" else 64)


def _scalars(typ: str, values: list[tuple[int, Any]]) -> list[Any]:
    """Repeated scalars, packed or not (gogo writes proto2 repeated numbers unpacked)."""
    out = []
    for wire, value in values:
        if wire == 2 and typ not in ("string", "bytes"):
            packed = _read_packed(typ, value)
            out.extend(_scalar(typ, _WIRE[typ], v) for v in packed)
        else:
            out.append(_scalar(typ, wire, value))
    return out


def _read_packed(typ: str, data: memoryview) -> list[Any]:
    if typ == "double":
        if len(data) % 8:
            raise ProtobufError("truncated packed doubles")
        return [data[i:i + 8] for i in range(0, len(data), 8)]
    out, pos = [], 0
    while pos < len(data):
        value, pos = _varint(data, pos)
        out.append(value)
    return out


# Messages, as Go's encoding/json would print them.

def _message(name: str, data: memoryview | bytes) -> Any:
    special = _SPECIAL.get(name)
    if special:
        return special(_read(memoryview(data)))
    table = _table()
    spec = table["messages"].get(name)
    if spec is None:
        raise ProtobufError(f"no protobuf decoding for message {name}")
    fields = _read(memoryview(data))
    if name in table["lists"]:
        (number, _, typ, flags), = spec
        return _field(typ, flags, fields.get(number))
    out: dict[str, Any] = {}
    for number, json_name, typ, flags in spec:
        values = fields.get(number)
        value = _field(typ, flags, values)
        if _omit(value, typ, flags, bool(values)):
            continue
        if "i" in flags:
            out.update(value)
        else:
            out[json_name] = value
    return out


def _field(typ: str, flags: str, values: list[tuple[int, Any]] | None) -> Any:
    if typ.startswith("map:"):
        return _map(typ[4:], values) if values else None
    if "r" in flags:
        if not values:
            return None
        if typ in _SCALARS:
            return _scalars(typ, values)
        return [_message(typ, _chunk(wire, value)) for wire, value in values]
    if not values:
        if "p" in flags or typ == "bytes":
            return None
        return _zero(typ)
    if typ in _SCALARS:
        return _scalar(typ, *values[-1])
    # A message sent in pieces is their merge, which is what the concatenated bytes decode to.
    return _message(typ, b"".join(_chunk(wire, value) for wire, value in values))


def _chunk(wire: int, value: Any) -> memoryview:
    if wire != 2:
        raise ProtobufError(f"message field sent with wire type {wire}")
    return value


def _zero(typ: str) -> Any:
    if typ == "string":
        return ""
    if typ == "bool":
        return False
    if typ in _SCALARS:
        return 0
    return _message(typ, b"")


def _map(value_type: str, entries: list[tuple[int, Any]]) -> dict[str, Any]:
    out = {}
    for wire, data in entries:
        entry = _read(_chunk(wire, data))
        key = _text(_last_bytes(entry, 1))
        values = entry.get(2)
        if value_type in _SCALARS:
            out[key] = _scalar(value_type, *values[-1]) if values else _zero(value_type)
        else:
            out[key] = _message(value_type, _last_bytes(entry, 2))
    return dict(sorted(out.items()))


def _omit(value: Any, typ: str, flags: str, sent: bool) -> bool:
    """Whether omitempty drops the field: nil pointers (a sent one is set, even to a null-printing
    zero time), zero scalars and empty lists and maps, but never non-pointer structs."""
    if "o" not in flags:
        return False
    if "p" in flags:
        return not sent
    if "r" in flags or typ.startswith("map:") or typ in _SCALARS or typ in _table()["lists"]:
        return not value
    return False


# Types with their own JSON form (custom MarshalJSON in Go).

def _time(fields: Fields, micro: bool) -> str | None:
    """RFC 3339 in UTC: seconds for Time (Go drops the nanos), microseconds (truncated) for MicroTime."""
    if not fields:
        return None  # zero time.Time, which marshals as null
    seconds = _signed(_last_int(fields, 1), 64)
    micros = int(_signed(_last_int(fields, 2), 32) / 1000) if micro else 0
    try:
        t = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=seconds, microseconds=micros)
    except OverflowError as e:
        raise ProtobufError(f"timestamp {seconds} out of range") from e
    text = f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    return f"{text}.{t.microsecond:06d}Z" if micro else f"{text}Z"


def _last_int(fields: Fields, number: int) -> int:
    values = fields.get(number)
    if not values:
        return 0
    wire, value = values[-1]
    if wire != 0:
        raise ProtobufError(f"field {number} should be a varint")
    return value


def _int_or_string(fields: Fields) -> int | str:
    kind = _last_int(fields, 1)
    if kind == 0:
        return _signed(_last_int(fields, 2), 32)
    if kind == 1:
        return _text(_last_bytes(fields, 3))
    raise ProtobufError(f"IntOrString has unknown type {kind}")


def _raw_json(fields: Fields) -> Any:
    """Embedded JSON (RawExtension, FieldsV1, apiextensions JSON); an embedded protobuf object is decoded."""
    raw = bytes(_last_bytes(fields, 1))
    if not raw:
        return None
    if raw.startswith(MAGIC):
        return decode(raw)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise ProtobufError("embedded raw object is neither JSON nor protobuf") from e


def _or(name: str, pick: Callable[[dict[str, Any]], Any]) -> Callable[[Fields], Any]:
    """apiextensions' JSONSchemaPropsOr* types, which print as one of their fields."""
    def marshal(fields: Fields) -> Any:
        spec = _table()["messages"][name]
        return pick({json_name: _field(typ, flags, fields.get(number))
                     for number, json_name, typ, flags in spec})
    return marshal


_SPECIAL: dict[str, Callable[[Fields], Any]] = {
    "meta.v1.Time": lambda f: _time(f, micro=False),
    "meta.v1.MicroTime": lambda f: _time(f, micro=True),
    "meta.v1.FieldsV1": _raw_json,
    "runtime.RawExtension": _raw_json,
    "apiextensions.v1.JSON": _raw_json,
    "intstr.IntOrString": _int_or_string,
    "resource.Quantity": lambda f: _text(_last_bytes(f, 1)) or "0",
    "apiextensions.v1.JSONSchemaPropsOrBool": _or(
        "apiextensions.v1.JSONSchemaPropsOrBool",
        lambda v: v["Schema"] if v["Schema"] is not None else v["Allows"]),
    "apiextensions.v1.JSONSchemaPropsOrArray": _or(
        "apiextensions.v1.JSONSchemaPropsOrArray", lambda v: v["JSONSchemas"] or v["Schema"]),
    "apiextensions.v1.JSONSchemaPropsOrStringArray": _or(
        "apiextensions.v1.JSONSchemaPropsOrStringArray", lambda v: v["Property"] or v["Schema"]),
}
