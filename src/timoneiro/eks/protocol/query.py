"""The Query protocol (Auto Scaling, STS, IAM), from the service's botocore model: Action=...&Version=... and the
input members flattened as botocore's QuerySerializer writes them (Foo.member.1, Foo.entry.1.key,
Foo.Bar), in a form-encoded body or the query string; responses are <ActionResponse xmlns=...> documents
with an <ActionResult> and the request id, errors an <ErrorResponse>, as botocore's QueryParser reads them."""

from __future__ import annotations

import base64
from xml.sax.saxutils import escape

from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape

from timoneiro.eks.errors import AwsError
from timoneiro.eks.protocol import CommonError, Response, constraints
from timoneiro.eks.protocol.shapes import Invalid, check_required, from_text, iso8601, serialized_name

XML = "text/xml"
CONSTRAINED = frozenset({"iam", "sts"})  # services whose members' constraints are checked here (see constraints)


def operation(model: ServiceModel, form: dict[str, str]) -> OperationModel:
    """The operation Action names, in the API version the model has."""
    action, version = form.get("Action"), form.get("Version")
    if not action:
        raise AwsError("MissingAction", "The request is missing an action or a required parameter.", 400)
    if action not in model.operation_names or (version and version != model.api_version):
        raise AwsError("InvalidAction", f"Could not find operation {action} for version "
                                        f"{version or model.api_version}", 400)
    return model.operation_model(action)


def parse(operation: OperationModel, form: dict[str, str]) -> dict:
    """The input shape's members (botocore's member names) from the flattened form; ValidationError for
    members that do not fit."""
    shape = operation.input_shape
    if shape is None:
        return {}
    try:
        params = _decode(shape, _Form(form), "", "") or {}
        if operation.service_model.service_name in CONSTRAINED:
            constraints.check(shape, params)
        return params
    except Invalid as e:
        raise AwsError("ValidationError", str(e), 400) from None


class _Form(dict):
    """The flattened parameters, and every dotted prefix of their names (Foo, Foo.member, Foo.member.1)."""

    def __init__(self, form: dict[str, str]) -> None:
        super().__init__(form)
        self.prefixes = {key.rsplit(".", n)[0] for key in form for n in range(key.count(".") + 1)}

    def present(self, key: str) -> bool:
        return key in self.prefixes


def _decode(shape: Shape, form: _Form, key: str, where: str) -> object:
    kind = shape.type_name
    if kind == "structure":
        if key and not form.present(key):
            return None
        parsed = {}
        for name, member in shape.members.items():
            wire = serialized_name(member, name)
            path = f"{where}.{name}" if where else name
            value = _decode(member, form, f"{key}.{wire}" if key else wire, path)
            if value is not None:
                parsed[name] = value
        check_required(shape, parsed, f"{where}." if where else "")
        return parsed
    if kind == "list":
        return _decode_list(shape, form, key, where)
    if kind == "map":
        return _decode_map(shape, form, key, where)
    return from_text(shape, form[key], where) if key in form else None


def _decode_list(shape: ListShape, form: _Form, key: str, where: str) -> list | None:
    if form.get(key) == "":  # botocore's empty list
        return []
    if shape.serialization.get("flattened"):
        name = shape.member.serialization.get("name")
        base = ".".join([*key.split(".")[:-1], name]) if name else key
    else:
        base = f"{key}.{shape.member.serialization.get('name', 'member')}"
    items, i = [], 1
    while form.present(f"{base}.{i}"):
        items.append(_decode(shape.member, form, f"{base}.{i}", f"{where}.{i}"))
        i += 1
    return items or None


def _decode_map(shape: MapShape, form: _Form, key: str, where: str) -> dict | None:
    base = key if shape.serialization.get("flattened") else f"{key}.entry"
    key_name, value_name = serialized_name(shape.key, "key"), serialized_name(shape.value, "value")
    parsed, i = {}, 1
    while f"{base}.{i}.{key_name}" in form:
        name = form[f"{base}.{i}.{key_name}"]
        parsed[name] = _decode(shape.value, form, f"{base}.{i}.{value_name}", f"{where}.{name}")
        i += 1
    return parsed or None


def to_xml(shape: Shape, value: object, tag: str) -> str:
    """One value as the element `tag`; lists of <member>, maps of <entry><key/><value/></entry>."""
    kind = shape.type_name
    if kind == "structure":
        return f"<{tag}>{_members(shape, value)}</{tag}>"
    if kind == "list":
        item = serialized_name(shape.member, "member")
        return f"<{tag}>{''.join(to_xml(shape.member, v, item) for v in value)}</{tag}>"
    if kind == "map":
        return f"<{tag}>{''.join(_entry(shape, k, v, 'entry') for k, v in value.items())}</{tag}>"
    return f"<{tag}>{escape(_text(shape, value))}</{tag}>"


def _members(shape: Shape, value: dict) -> str:
    out = []
    for name, member in shape.members.items():
        item = value.get(name)
        if item is None:
            continue
        if member.serialization.get("flattened") and member.type_name == "list":
            tag = member.member.serialization.get("name") or serialized_name(member, name)
            out.extend(to_xml(member.member, v, tag) for v in item)
        elif member.serialization.get("flattened") and member.type_name == "map":
            out.extend(_entry(member, k, v, serialized_name(member, name)) for k, v in item.items())
        else:
            out.append(to_xml(member, item, serialized_name(member, name)))
    return "".join(out)


def _entry(shape: MapShape, key: object, value: object, tag: str) -> str:
    return (f"<{tag}>{to_xml(shape.key, key, serialized_name(shape.key, 'key'))}"
            f"{to_xml(shape.value, value, serialized_name(shape.value, 'value'))}</{tag}>")


def _text(shape: Shape, value: object) -> str:
    kind = shape.type_name
    if kind == "timestamp":
        return iso8601(value)
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "blob":
        return base64.b64encode(value).decode()
    return str(value)


def serialize(model: ServiceModel, operation: OperationModel, result: dict, request_id: str) -> Response:
    name, shape = operation.name, operation.output_shape
    inner = ""
    if shape is not None:
        inner = to_xml(shape, result, shape.serialization.get("resultWrapper", f"{name}Result"))
    return _document(model, f"{name}Response", inner, request_id, 200)


def error(model: ServiceModel, err: AwsError, request_id: str) -> Response:
    code = err.query_code if isinstance(err, CommonError) else wire_code(model, err.code)
    kind = "Sender" if err.status < 500 else "Receiver"
    inner = (f"<Error><Type>{kind}</Type><Code>{escape(code)}</Code><Message>{escape(err.message)}</Message>"
             f"</Error>")
    return _document(model, "ErrorResponse", inner, request_id, err.status)


def wire_code(model: ServiceModel, code: str) -> str:
    """The code an exception shape goes by on the wire (AlreadyExistsFault -> AlreadyExists), so that a
    handler may raise either and boto3 still raises client.exceptions.AlreadyExistsFault."""
    if code in model.shape_names:
        return model.shape_for(code).metadata.get("error", {}).get("code", code)
    return code


def _document(model: ServiceModel, root: str, inner: str, request_id: str, status: int) -> Response:
    namespace = model.metadata["xmlNamespace"]
    request_id_xml = (f"<RequestId>{request_id}</RequestId>" if root == "ErrorResponse"
                      else f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>")
    body = f'<{root} xmlns="{namespace}">{inner}{request_id_xml}</{root}>'
    return Response(status, body.encode(), {"content-type": XML})
