"""The REST-JSON protocol (EKS), from the service's botocore model: each operation's method and request
URI template route a request; its URI labels, query string, headers and JSON body become the input shape's
members; a handler's dict becomes the output shape's JSON; an AwsError becomes the status, the
x-amzn-ErrorType header and the {"message": ...} body that botocore's RestJSONParser reads."""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass
from urllib.parse import unquote

import orjson
from botocore.model import OperationModel, ServiceModel, Shape

from timoneiro.eks.errors import AwsError, invalid_parameter
from timoneiro.eks.protocol import Response
from timoneiro.eks.protocol.shapes import Invalid, check_required, epoch, from_text, serialized_name

JSON = "application/json"


@dataclass(frozen=True)
class Route:
    method: str
    segments: tuple[str, ...]  # a literal, "{label}", or a greedy "{label+}" (the rest of the path)
    query: tuple[tuple[str, str | None], ...]  # a requestUri's own query: keys (and values) it requires
    operation: OperationModel

    def match(self, method: str, parts: list[str], query: dict[str, list[str]]) -> dict[str, str] | None:
        """The URI labels (decoded) if this route takes the request, else None."""
        if method != self.method or any(k not in query or (v is not None and v not in query[k])
                                        for k, v in self.query):
            return None
        labels: dict[str, str] = {}
        for i, segment in enumerate(self.segments):
            if segment.endswith("+}"):
                rest = parts[i:]
                if not rest or not rest[0]:
                    return None
                labels[segment[1:-2]] = unquote("/".join(rest))
                return labels
            if i >= len(parts):
                return None
            if segment.startswith("{"):
                if not parts[i]:
                    return None
                labels[segment[1:-1]] = unquote(parts[i])
            elif segment != parts[i]:
                return None
        return labels if len(parts) == len(self.segments) else None


@functools.cache
def routes(model: ServiceModel) -> list[Route]:
    """Every operation's route, the most literal first (so /clusters/{name}/updates beats a label)."""
    table = []
    for name in model.operation_names:
        operation = model.operation_model(name)
        path, _, query = operation.http["requestUri"].partition("?")
        required = tuple((k, v if sep else None) for k, sep, v in
                         (pair.partition("=") for pair in query.split("&") if pair))
        segments = tuple(path.removeprefix("/").split("/"))
        table.append(Route(operation.http["method"], segments, required, operation))
    return sorted(table, key=lambda r: -sum(not s.startswith("{") for s in r.segments))


def route(model: ServiceModel, method: str, raw_path: str, query: dict[str, list[str]]
          ) -> tuple[OperationModel, dict[str, str]]:
    parts = raw_path.removeprefix("/").split("/")
    for candidate in routes(model):
        labels = candidate.match(method, parts, query)
        if labels is not None:
            return candidate.operation, labels
    raise AwsError("UnknownOperationException", "The requested operation is not recognized by the service.",
                   404)


def parse(operation: OperationModel, labels: dict[str, str], query: dict[str, list[str]],
          headers: dict[str, str], body: bytes) -> dict:
    """The input shape's members (botocore's member names) from a routed request; InvalidParameterException
    for members that do not fit, SerializationException for a body that is not a JSON object."""
    shape = operation.input_shape
    if shape is None:
        return {}
    document = _json_object(body)
    params: dict = {}
    try:
        for name, member in shape.members.items():
            location, wire = member.serialization.get("location"), serialized_name(member, name)
            if location == "uri":
                value = from_text(member, labels[wire], name) if wire in labels else None
            elif location == "querystring":
                value = _from_query(member, query.get(wire), name)
            elif location == "header":
                value = from_text(member, headers[wire.lower()], name) if wire.lower() in headers else None
            else:
                value = from_json(member, document.get(wire), name)
            if value is not None:
                params[name] = value
        check_required(shape, params, "")
    except Invalid as e:
        raise invalid_parameter(str(e)) from None
    return params


def _from_query(shape: Shape, values: list[str] | None, where: str) -> object:
    if not values:
        return None
    if shape.type_name == "list":
        return [from_text(shape.member, v, f"{where}.{i}") for i, v in enumerate(values, 1)]
    return from_text(shape, values[-1], where)


def _json_object(body: bytes) -> dict:
    if not body.strip():
        return {}
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise AwsError("SerializationException", f"Could not parse the request body as JSON: {e}",
                       400) from None
    if not isinstance(document, dict):
        raise AwsError("SerializationException", "The request body must be a JSON object.", 400)
    return document


_JSON_TYPES = {"string": (str,), "integer": (int,), "long": (int,), "float": (int, float),
               "double": (int, float), "boolean": (bool,), "structure": (dict,), "map": (dict,),
               "list": (list,)}


def from_json(shape: Shape, value: object, where: str) -> object:
    """A request body's JSON value as the member's shape types it (timestamps as epoch seconds)."""
    if value is None or getattr(shape, "is_document_type", False):
        return value
    kind = shape.type_name
    expected = _JSON_TYPES.get(kind)
    if expected and (not isinstance(value, expected) or (kind != "boolean" and isinstance(value, bool))):
        raise Invalid(where, value, f"Member must be of type {kind}")
    if kind == "structure":
        parsed = {}
        for name, member in shape.members.items():
            item = from_json(member, value.get(serialized_name(member, name)), f"{where}.{name}")
            if item is not None:
                parsed[name] = item
        check_required(shape, parsed, f"{where}.")
        return parsed
    if kind == "list":
        return [from_json(shape.member, item, f"{where}.{i}") for i, item in enumerate(value, 1)]
    if kind == "map":
        return {k: from_json(shape.value, v, f"{where}.{k}") for k, v in value.items()}
    if kind in ("float", "double"):
        return float(value)
    if kind == "timestamp" and not isinstance(value, str):
        try:
            return epoch(value)
        except ValueError:
            raise Invalid(where, value, "Member must be of type timestamp") from None
    if kind in ("timestamp", "blob"):
        if not isinstance(value, str):
            raise Invalid(where, value, f"Member must be of type {kind}")
        return from_text(shape, value, where)
    return value


def to_json(shape: Shape, value: object) -> object:
    """A handler's value as the output shape writes it: only the shape's members, None left out, empty
    lists and maps kept, timestamps as epoch seconds, blobs in base64."""
    if getattr(shape, "is_document_type", False):
        return value
    kind = shape.type_name
    if kind == "structure":
        return {serialized_name(member, name): to_json(member, value[name])
                for name, member in shape.members.items() if value.get(name) is not None}
    if kind == "list":
        return [to_json(shape.member, item) for item in value]
    if kind == "map":
        return {str(k): to_json(shape.value, v) for k, v in value.items()}
    if kind == "timestamp":
        return epoch(value)
    if kind == "blob":
        return base64.b64encode(value).decode()
    return value


def serialize(operation: OperationModel, result: dict) -> Response:
    shape = operation.output_shape
    body = to_json(shape, result) if shape is not None else {}
    return Response(operation.http.get("responseCode", 200), orjson.dumps(body),
                    {"content-type": JSON})


def error(model: ServiceModel, err: AwsError) -> Response:
    """{"message": ..., and the exception shape's other members}, the code in x-amzn-ErrorType."""
    body: dict = {"message": err.message}
    shape = model.shape_for(err.code) if err.code in model.shape_names else None
    for name, value in err.fields.items():
        if value is None:
            continue
        if shape is None:
            body[name] = value
        elif name in shape.members:
            body[name] = to_json(shape.members[name], value)
    return Response(err.status, orjson.dumps(body),
                    {"content-type": JSON, "x-amzn-errortype": err.code})
