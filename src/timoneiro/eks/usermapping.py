"""Who an IAM identity is in a cluster: its Kubernetes username and groups, from the cluster's access
entries, then (in the CONFIG_MAP and API_AND_CONFIG_MAP authentication modes) from the kube-system/aws-auth
ConfigMap's mapRoles, mapUsers and mapAccounts, as EKS's aws-iam-authenticator maps them: an access entry
wins over the ConfigMap for the same principal; a role's sessions match the role (paths aside); usernames and
groups may hold {{AccountID}}, {{SessionName}} (its '@' made '-'), {{SessionNameRaw}} and {{AccessKeyID}}.
{{EC2PrivateDNSName}} needs EC2's API, which this service does not have: such a mapping maps nobody. An
entry's rendered usernames are bound to its access policies as its sessions first sign in."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import yaml

from timoneiro.client import Client
from timoneiro.client.errors import ApiError
from timoneiro.client.resources import CONFIGMAPS
from timoneiro.eks import access_bindings
from timoneiro.eks.tokens import Identity

if TYPE_CHECKING:
    from timoneiro.eks.service import Eks

log = logging.getLogger("timoneiro.eks")
CONFIG_MAP_MODES = ("CONFIG_MAP", "API_AND_CONFIG_MAP")
AWS_AUTH = ("kube-system", "aws-auth")

Mapping = tuple[str, list[str]]  # (username, groups), templates not yet rendered


async def user_of(eks: Eks, cluster: str, identity: Identity) -> Mapping | None:
    """The identity's username and groups in the cluster, or None if it is nobody there."""
    doc = eks.doc(cluster)
    entry = access_entry(doc, identity.canonical_arn)
    if entry is not None:
        mapping: Mapping | None = (entry["username"], list(entry.get("kubernetesGroups") or ()))
    elif doc["cluster"]["accessConfig"]["authenticationMode"] in CONFIG_MAP_MODES:
        mapping = config_map_mapping(await _aws_auth(eks, cluster), identity)
    else:
        mapping = None
    if mapping is None:
        return None
    rendered = [render(text, identity) for text in (mapping[0], *mapping[1])]
    names = [text for text in rendered if text is not None]
    if len(names) != len(rendered):
        return None
    if entry is not None and names[0] != entry["username"]:
        await _bind_rendered(eks, cluster, entry, names[0])
    return names[0], names[1:]


async def _bind_rendered(eks: Eks, cluster: str, entry: dict, username: str) -> None:
    """Put the entry's access policies in effect for a username its template rendered to (a role session's),
    the first time it does: RBAC binds names, not templates (see access_bindings)."""
    seen = entry.setdefault(access_bindings.RENDERED, {}).setdefault(entry["username"], [])
    if username not in seen:
        seen.append(username)
        eks.store.save(cluster)
        await access_bindings.sync_soon(eks, cluster)


def access_entry(doc: dict, canonical_arn: str) -> dict | None:
    """The access entry for a principal: by its ARN, a role's without its path (a session's ARN has none)."""
    wanted = _pathless(canonical_arn).lower()
    return next((entry for arn, entry in doc["accessEntries"].items() if _pathless(arn).lower() == wanted), None)


def _pathless(arn: str) -> str:
    prefix, sep, name = arn.partition(":role/")
    return f"{prefix}{sep}{name.rpartition('/')[2]}" if sep else arn


def config_map_mapping(data: dict[str, str], identity: Identity) -> Mapping | None:
    """aws-auth's mapping for the identity: mapRoles, then mapUsers (their keys read case-blind, as Go's
    JSON decoding reads them), then mapAccounts (the principal's own ARN, no groups)."""
    arn = identity.canonical_arn.lower()
    for section, key in (("mapRoles", "rolearn"), ("mapUsers", "userarn")):
        for item in _yaml_list(data.get(section), section):
            fields = {str(k).lower(): v for k, v in item.items()} if isinstance(item, dict) else {}
            if str(fields.get(key) or "").lower() == arn:
                return str(fields.get("username") or ""), [str(g) for g in fields.get("groups") or ()]
    accounts = _yaml_list(data.get("mapAccounts"), "mapAccounts")
    return (identity.canonical_arn, []) if identity.account in map(str, accounts) else None


def _yaml_list(text: str | None, section: str) -> list:
    if not text or text.strip() in ("", "``", '""', "''"):
        return []
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as e:
        log.warning("aws-auth ConfigMap: %s does not parse: %s", section, e)
        return []
    return value if isinstance(value, list) else []


async def _aws_auth(eks: Eks, cluster: str) -> dict[str, str]:
    try:
        async with Client(eks.control_plane(cluster).admin) as client:
            config_map = await client.get(CONFIGMAPS, AWS_AUTH[1], AWS_AUTH[0])
    except ApiError as e:
        if e.code == 404:
            return {}
        raise
    return config_map.get("data") or {}


def render(template: str, identity: Identity) -> str | None:
    """A username or group with the identity's values in place of aws-iam-authenticator's placeholders."""
    if "{{EC2PrivateDNSName}}" in template:
        return None
    for placeholder, value in (("{{AccountID}}", identity.account),
                               ("{{SessionName}}", identity.session_name.replace("@", "-")),
                               ("{{SessionNameRaw}}", identity.session_name),
                               ("{{AccessKeyID}}", identity.access_key_id)):
        template = template.replace(placeholder, value)
    return template
