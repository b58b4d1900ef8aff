"""/openapi/v2 in gnostic's OpenAPIv2 protobuf form, the only form kubectl and helm decode.

client-go's `OpenAPISchema()` asks for protobuf and parses the answer as `openapi_v2.Document` whatever
the content type; kubectl validates `kind: List` objects (and more) against it. kube-apiserver makes it by
reading its JSON document with gnostic, so the encoding here follows gnostic's reader: every message of
`openapiv2/OpenAPIv2.proto` below is a table from JSON key to (field number, codec), free-form values
(`default`, `example`, `enum`, `x-` extensions) become `Any{yaml}`, and keys a message does not know are
dropped as gnostic would refuse them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import yaml

PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
JSON = "application/json"
# What kube-openapi answers for each media type it accepts, in its order of preference for */*.
_MEDIA_TYPES = {
    "application/json": JSON,
    "application/com.github.proto-openapi.spec.v2@v1.0+protobuf": PROTOBUF,
    PROTOBUF: PROTOBUF,
}

# Codecs: "s" string, "b" bool, "i" int64, "d" double, "S" repeated string, "A" Any, "AA" repeated Any,
# "M:Name" message, "R:Name" repeated message, "N:codec" JSON object -> repeated Named{1: key, 2: codec}.
# Keys: "x-" collects the vendor extensions, "*" every key the table does not name.
Table = dict[str, tuple[int, str]]
_NUMERIC = {"maximum": "d", "exclusiveMaximum": "b", "minimum": "d", "exclusiveMinimum": "b", "maxLength": "i",
            "minLength": "i", "pattern": "s", "maxItems": "i", "minItems": "i", "uniqueItems": "b", "enum": "AA",
            "multipleOf": "d"}


def _fields(first: int, *names: str, **codecs: str) -> Table:
    """Consecutive field numbers from `first`, the codec of each name from `codecs` or _NUMERIC."""
    return {name: (first + i, codecs.get(name) or _NUMERIC[name]) for i, name in enumerate(names)}


def _primitive(first: int) -> Table:
    """type, format, items, collectionFormat, default, the validations, then vendor extensions."""
    return _fields(first, "type", "format", "items", "collectionFormat", "default", "maximum", "exclusiveMaximum",
                   "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems",
                   "uniqueItems", "enum", "multipleOf", "x-", type="s", format="s", items="M:PrimitivesItems",
                   collectionFormat="s", default="A", **{"x-": "N:A"})


def _parameter(query_or_form: bool) -> Table:
    """The four non-body parameter kinds; query and form data have allowEmptyValue as field 5."""
    head = ("required", "in", "description", "name") + (("allowEmptyValue",) if query_or_form else ())
    table = _fields(1, *head, required="b", allowEmptyValue="b", **{"in": "s", "description": "s", "name": "s"})
    return table | _primitive(len(head) + 1)


_SCHEMA = _fields(1, "$ref", "format", "title", "description", "default", "multipleOf", "maximum",
                  "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems",
                  "minItems", "uniqueItems", "maxProperties", "minProperties", "required", "enum",
                  "additionalProperties", "type", "items", "allOf", "properties", "discriminator", "readOnly", "xml",
                  "externalDocs", "example", "x-",
                  **{"$ref": "s", "format": "s", "title": "s", "description": "s", "default": "A",
                     "maxProperties": "i", "minProperties": "i", "required": "S",
                     "additionalProperties": "M:AdditionalPropertiesItem", "type": "M:TypeItem",
                     "items": "M:ItemsItem", "allOf": "R:Schema", "properties": "M:Properties",
                     "discriminator": "s", "readOnly": "b", "xml": "M:Xml", "externalDocs": "M:ExternalDocs",
                     "example": "A", "x-": "N:A"})
_OAUTH2 = {"type": "s", "flow": "s", "scopes": "M:Oauth2Scopes", "authorizationUrl": "s", "tokenUrl": "s",
           "description": "s", "x-": "N:A"}

TABLES: dict[str, Table] = {
    "Document": _fields(1, "swagger", "info", "host", "basePath", "schemes", "consumes", "produces", "paths",
                        "definitions", "parameters", "responses", "security", "securityDefinitions", "tags",
                        "externalDocs", "x-",
                        swagger="s", info="M:Info", host="s", basePath="s", schemes="S", consumes="S", produces="S",
                        paths="M:Paths", definitions="M:Definitions", parameters="M:ParameterDefinitions",
                        responses="M:ResponseDefinitions", security="R:SecurityRequirement",
                        securityDefinitions="M:SecurityDefinitions", tags="R:Tag", externalDocs="M:ExternalDocs",
                        **{"x-": "N:A"}),
    "Info": _fields(1, "title", "version", "description", "termsOfService", "contact", "license", "x-",
                    title="s", version="s", description="s", termsOfService="s", contact="M:Contact",
                    license="M:License", **{"x-": "N:A"}),
    "Contact": _fields(1, "name", "url", "email", "x-", name="s", url="s", email="s", **{"x-": "N:A"}),
    "License": _fields(1, "name", "url", "x-", name="s", url="s", **{"x-": "N:A"}),
    "ExternalDocs": _fields(1, "description", "url", "x-", description="s", url="s", **{"x-": "N:A"}),
    "Tag": _fields(1, "name", "description", "externalDocs", "x-", name="s", description="s",
                   externalDocs="M:ExternalDocs", **{"x-": "N:A"}),
    "Xml": _fields(1, "name", "namespace", "prefix", "attribute", "wrapped", "x-", name="s", namespace="s",
                   prefix="s", attribute="b", wrapped="b", **{"x-": "N:A"}),
    "Paths": {"x-": (1, "N:A"), "*": (2, "N:M:PathItem")},
    "PathItem": _fields(1, "$ref", "get", "put", "post", "delete", "options", "head", "patch", "parameters", "x-",
                        parameters="R:ParametersItem",
                        **{"$ref": "s", "x-": "N:A"} | dict.fromkeys(
                            ("get", "put", "post", "delete", "options", "head", "patch"), "M:Operation")),
    "Operation": _fields(1, "tags", "summary", "description", "externalDocs", "operationId", "produces",
                         "consumes", "parameters", "responses", "schemes", "deprecated", "security", "x-",
                         tags="S", summary="s", description="s", externalDocs="M:ExternalDocs", operationId="s",
                         produces="S", consumes="S", parameters="R:ParametersItem", responses="M:Responses",
                         schemes="S", deprecated="b", security="R:SecurityRequirement", **{"x-": "N:A"}),
    "BodyParameter": _fields(1, "description", "name", "in", "required", "schema", "x-", description="s",
                             name="s", required="b", schema="M:Schema", **{"in": "s", "x-": "N:A"}),
    "HeaderParameterSubSchema": _parameter(query_or_form=False),
    "FormDataParameterSubSchema": _parameter(query_or_form=True),
    "QueryParameterSubSchema": _parameter(query_or_form=True),
    "PathParameterSubSchema": _parameter(query_or_form=False),
    "PrimitivesItems": _primitive(1),
    "Header": _primitive(1) | {"description": (18, "s"), "x-": (19, "N:A")},
    "JsonReference": {"$ref": (1, "s"), "description": (2, "s")},
    "Responses": {"*": (1, "N:M:ResponseValue"), "x-": (2, "N:A")},
    "Response": _fields(1, "description", "schema", "headers", "examples", "x-", description="s",
                        schema="M:SchemaItem", headers="M:Headers", examples="M:Examples", **{"x-": "N:A"}),
    "FileSchema": _fields(1, "format", "title", "description", "default", "required", "type", "readOnly",
                          "externalDocs", "example", "x-", format="s", title="s", description="s", default="A",
                          required="S", type="s", readOnly="b", externalDocs="M:ExternalDocs", example="A",
                          **{"x-": "N:A"}),
    "Schema": _SCHEMA,
    "TypeItem": {"value": (1, "S")},
    "ItemsItem": {"schema": (1, "R:Schema")},
    "StringArray": {"value": (1, "S")},
    "Definitions": {"*": (1, "N:M:Schema")},
    "Properties": {"*": (1, "N:M:Schema")},
    "ParameterDefinitions": {"*": (1, "N:M:Parameter")},
    "ResponseDefinitions": {"*": (1, "N:M:Response")},
    "Headers": {"*": (1, "N:M:Header")},
    "Examples": {"*": (1, "N:A")},
    "SecurityDefinitions": {"*": (1, "N:M:SecurityDefinitionsItem")},
    "SecurityRequirement": {"*": (1, "N:M:StringArray")},
    "Oauth2Scopes": {"*": (1, "N:s")},
    "BasicAuthenticationSecurity": _fields(1, "type", "description", "x-", type="s", description="s",
                                           **{"x-": "N:A"}),
    "ApiKeySecurity": _fields(1, "type", "name", "in", "description", "x-", type="s", name="s", description="s",
                              **{"in": "s", "x-": "N:A"}),
    "Oauth2ImplicitSecurity": _fields(1, "type", "flow", "scopes", "authorizationUrl", "description", "x-",
                                      **_OAUTH2),
    "Oauth2PasswordSecurity": _fields(1, "type", "flow", "scopes", "tokenUrl", "description", "x-", **_OAUTH2),
    "Oauth2ApplicationSecurity": _fields(1, "type", "flow", "scopes", "tokenUrl", "description", "x-", **_OAUTH2),
    "Oauth2AccessCodeSecurity": _fields(1, "type", "flow", "scopes", "authorizationUrl", "tokenUrl", "description",
                                        "x-", **_OAUTH2),
}

# JSON values that are not objects, turned into the object their message reads.
_WRAP: dict[str, Callable[[object], dict]] = {
    "TypeItem": lambda v: {"value": [v] if isinstance(v, str) else v},
    "ItemsItem": lambda v: {"schema": v if isinstance(v, list) else [v]},
    "StringArray": lambda v: {"value": v},
}
_IN = {"header": (1, "M:HeaderParameterSubSchema"), "formData": (2, "M:FormDataParameterSubSchema"),
       "query": (3, "M:QueryParameterSubSchema"), "path": (4, "M:PathParameterSubSchema")}
_SECURITY = {"basic": (1, "M:BasicAuthenticationSecurity"), "apiKey": (2, "M:ApiKeySecurity"),
             "implicit": (3, "M:Oauth2ImplicitSecurity"), "password": (4, "M:Oauth2PasswordSecurity"),
             "application": (5, "M:Oauth2ApplicationSecurity"), "accessCode": (6, "M:Oauth2AccessCodeSecurity")}
# Messages that are a oneof: which field (and codec) holds a given JSON value, as gnostic decides it.
ONEOFS: dict[str, Callable[[object], tuple[int, str]]] = {
    "AdditionalPropertiesItem": lambda v: (2, "b") if isinstance(v, bool) else (1, "M:Schema"),
    "ParametersItem": lambda v: (2, "M:JsonReference") if "$ref" in v else (1, "M:Parameter"),
    "Parameter": lambda v: (1, "M:BodyParameter") if v.get("in") == "body" else (2, "M:NonBodyParameter"),
    "NonBodyParameter": lambda v: _IN[v.get("in")],
    "ResponseValue": lambda v: (2, "M:JsonReference") if "$ref" in v else (1, "M:Response"),
    "SchemaItem": lambda v: (2, "M:FileSchema") if v.get("type") == "file" else (1, "M:Schema"),
    "SecurityDefinitionsItem": lambda v: _SECURITY[v.get("flow") if v.get("type") == "oauth2" else v.get("type")],
}

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def to_yaml(value: object) -> str:
    """The YAML text gnostic keeps in `Any.yaml`: block style, keys in document order, no end marker."""
    text = yaml.dump(value, Dumper=_Dumper, default_flow_style=False, sort_keys=False, allow_unicode=True,
                     width=1 << 30)
    return text.removesuffix("...\n")


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64 values are ten bytes of two's complement
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _delimited(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _field(number: int, codec: str, value: object) -> bytes:
    """One field; proto3 leaves out scalars at their zero value, never a present message."""
    if codec == "s":
        return _delimited(number, value.encode()) if value else b""
    if codec == "b":
        return _varint(number << 3) + b"\x01" if value else b""
    if codec == "i":
        return _varint(number << 3) + _varint(int(value)) if value else b""
    if codec == "d":
        return _varint(number << 3 | 1) + struct.pack("<d", float(value)) if value else b""
    if codec == "S":
        return b"".join(_delimited(number, item.encode()) for item in value)
    if codec == "A":
        return _delimited(number, _delimited(2, to_yaml(value).encode()))
    if codec == "AA":
        return b"".join(_field(number, "A", item) for item in value)
    if codec.startswith("M:"):
        return _delimited(number, message(codec[2:], value))
    if codec.startswith("R:"):
        return b"".join(_field(number, "M" + codec[1:], item) for item in value)
    if codec.startswith("N:"):
        return b"".join(_delimited(number, _field(1, "s", key) + _field(2, codec[2:], item))
                        for key, item in value.items())
    raise ValueError(f"unknown codec {codec}")


def message(name: str, value: object) -> bytes:
    """The wire bytes of message `name` read from a JSON value, fields in field-number order."""
    choose = ONEOFS.get(name)
    if choose is not None:
        return _field(*choose(value), value)
    wrap = _WRAP.get(name)
    obj = wrap(value) if wrap else value
    table = TABLES[name]
    fields: dict[int, bytes] = {}
    grouped: dict[str, dict] = {}
    for key, item in obj.items():
        if key in table and key != "x-" and key != "*":
            number, codec = table[key]
            fields[number] = _field(number, codec, item)
        elif key.startswith("x-") and "x-" in table:
            grouped.setdefault("x-", {})[key] = item
        elif "*" in table:
            grouped.setdefault("*", {})[key] = item
    for group, items in grouped.items():
        number, codec = table[group]
        fields[number] = _field(number, codec, items)
    return b"".join(fields[number] for number in sorted(fields))


def document(doc: dict) -> bytes:
    """An OpenAPI v2 JSON document as `openapi_v2.Document` protobuf bytes."""
    return message("Document", doc)


def negotiate(accept: str) -> str | None:
    """The content type to answer /openapi/v2 with, as kube-openapi picks it, or None for 406.

    Accept clauses are tried by descending quality, then specific before wildcard, then in order; */* and
    application/* mean JSON.
    """
    clauses = []
    for position, clause in enumerate((accept or "*/*").split(",")):
        media, *params = (part.strip() for part in clause.split(";"))
        quality = 1.0
        for param in params:
            key, _, val = param.partition("=")
            if key.strip() == "q":
                try:
                    quality = float(val)
                except ValueError:
                    quality = 0.0
        if media and quality > 0:
            clauses.append((-quality, media.count("*"), position, media))
    for *_, media in sorted(clauses):
        if media in ("*/*", "application/*"):
            return JSON
        if media in _MEDIA_TYPES:
            return _MEDIA_TYPES[media]
    return None
