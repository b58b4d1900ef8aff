"""An add-on's configurationValues: JSON or YAML, checked against the add-on's JSON schema (what
DescribeAddonConfiguration answers) and refused with EKS's own words, which are those of the JSON schema
validator EKS runs: "[$.replicaCount: string found, integer expected]"."""

from __future__ import annotations

import json

import yaml

from timoneiro.eks.errors import invalid_parameter

_DRAFT = "http://json-schema.org/draft-06/schema#"
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_RESOURCES = {"type": "object", "additionalProperties": False, "properties": {
    "limits": {"$ref": "#/definitions/Quantities"}, "requests": {"$ref": "#/definitions/Quantities"}}}
_TOLERATIONS = {"type": "array", "items": {"type": "object", "additionalProperties": False, "properties": {
    "key": {"type": "string"}, "operator": {"type": "string", "enum": ["Exists", "Equal"]},
    "value": {"type": "string"}, "effect": {"type": "string"}, "tolerationSeconds": {"type": "integer"}}}}
_QUANTITIES = {"type": "object", "additionalProperties": False, "properties": {
    "cpu": {"type": "string"}, "memory": {"type": "string"}}}
# the vpc-cni settings (aws-node's environment) that its schema lets users set
_CNI_ENV = ("ADDITIONAL_ENI_TAGS", "AWS_VPC_CNI_NODE_PORT_SUPPORT", "AWS_VPC_ENI_MTU",
            "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG", "AWS_VPC_K8S_CNI_EXTERNALSNAT", "AWS_VPC_K8S_CNI_LOGLEVEL",
            "AWS_VPC_K8S_CNI_RANDOMIZESNAT", "AWS_VPC_K8S_CNI_VETHPREFIX",
            "DISABLE_NETWORK_RESOURCE_PROVISIONING", "ENABLE_POD_ENI", "ENABLE_PREFIX_DELEGATION",
            "ENI_CONFIG_ANNOTATION_DEF", "ENI_CONFIG_LABEL_DEF",
            "MINIMUM_IP_TARGET", "POD_SECURITY_GROUP_ENFORCING_MODE", "WARM_ENI_TARGET", "WARM_IP_TARGET",
            "WARM_PREFIX_TARGET")


def _schema(title: str, properties: dict) -> dict:
    """A schema as EKS's are laid out: a $ref to the add-on's definition, which forbids other properties."""
    return {"$ref": f"#/definitions/{title}", "$schema": _DRAFT, "definitions": {
        title: {"type": "object", "title": title, "additionalProperties": False, "properties": properties},
        "Resources": _RESOURCES, "Quantities": _QUANTITIES}}


SCHEMAS = {
    "coredns": _schema("Coredns", {
        "replicaCount": {"type": "integer", "minimum": 1},
        "corefile": {"type": "string", "description": "Entire corefile contents to use with installation"},
        "nodeSelector": _STRING_MAP, "podAnnotations": _STRING_MAP, "podLabels": _STRING_MAP,
        "resources": {"$ref": "#/definitions/Resources"}, "tolerations": _TOLERATIONS,
        "affinity": {"type": ["object", "null"]},
        "podDisruptionBudget": {"type": "object", "additionalProperties": False, "properties": {
            "enabled": {"type": "boolean"}, "maxUnavailable": {"type": ["integer", "string"]},
            "minAvailable": {"type": ["integer", "string"]}}}}),
    "kube-proxy": _schema("KubeProxy", {
        "mode": {"type": "string", "enum": ["iptables", "ipvs"]},
        "ipvs": {"type": "object", "additionalProperties": False, "properties": {
            "scheduler": {"type": "string", "enum": ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "sh", "dh",
                                                     "sed", "nq"]}}},
        "podAnnotations": _STRING_MAP, "resources": {"$ref": "#/definitions/Resources"}}),
    "vpc-cni": _schema("VpcCni", {
        "env": {"type": "object", "additionalProperties": False,
                "properties": {name: {"type": "string"} for name in _CNI_ENV}},
        "init": {"type": "object", "additionalProperties": False, "properties": {
            "env": {"type": "object", "additionalProperties": False, "properties": {
                "DISABLE_TCP_EARLY_DEMUX": {"type": "string"}, "ENABLE_V6_EGRESS": {"type": "string"}}}}},
        "enableNetworkPolicy": {"type": "string", "format": "boolean"},
        "resources": {"$ref": "#/definitions/Resources"}, "tolerations": _TOLERATIONS}),
    "eks-pod-identity-agent": _schema("EksPodIdentityAgent", {
        "agent": {"type": "object", "additionalProperties": False, "properties": {
            "additionalArgs": _STRING_MAP}},
        "resources": {"$ref": "#/definitions/Resources"}, "tolerations": _TOLERATIONS}),
}


def schema_text(addon: str) -> str:
    """configurationSchema: the schema as the JSON text DescribeAddonConfiguration answers."""
    return json.dumps(SCHEMAS[addon])


def parse(addon: str, text: str | None, cluster: str) -> dict:
    """The settings in configurationValues ({} for none), valid for the add-on's schema; EKS's
    InvalidParameterException otherwise."""
    if not text or not text.strip():
        return {}
    try:
        values = yaml.safe_load(text)  # JSON is YAML
    except yaml.YAMLError as e:
        raise _unsupported(f"Invalid json or yaml: {str(e).splitlines()[0]}", cluster, addon) from None
    schema = SCHEMAS[addon]
    errors = _check(values, schema, schema, "$")
    if errors:
        raise _unsupported(f"Json schema validation failed with error: [{', '.join(errors)}]", cluster, addon)
    return values or {}


def _unsupported(why: str, cluster: str, addon: str) -> Exception:
    return invalid_parameter(f"ConfigurationValue provided in request is not supported: {why}",
                             clusterName=cluster, addonName=addon)


_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return next((name for name, t in _TYPES.items() if isinstance(value, t)), "unknown")


def _check(value: object, schema: dict, root: dict, path: str) -> list[str]:
    """The errors of `value` against the subset of JSON schema the add-ons' schemas use ($ref, type,
    properties, additionalProperties, items, enum, minimum)."""
    if "$ref" in schema:
        schema = root["definitions"][schema["$ref"].rpartition("/")[2]]
    found = _type_name(value)
    wanted = schema.get("type")
    if wanted is not None:
        allowed = [wanted] if isinstance(wanted, str) else wanted
        if found not in allowed and not (found == "integer" and "number" in allowed):
            return [f"{path}: {found} found, {', '.join(allowed)} expected"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{path}: does not have a value in the enumeration [{', '.join(map(str, schema['enum']))}]"]
    if "minimum" in schema and found in ("integer", "number") and value < schema["minimum"]:
        return [f"{path}: must have a minimum value of {schema['minimum']}"]
    errors = []
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            where = f"{path}.{key}"
            if key in properties:
                errors += _check(item, properties[key], root, where)
            elif extra is False:
                errors.append(f"{where}: is not defined in the schema and the schema does not allow "
                              "additional properties")
            elif isinstance(extra, dict):
                errors += _check(item, extra, root, where)
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += _check(item, schema["items"], root, f"{path}[{i}]")
    return errors
