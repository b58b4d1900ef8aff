"""EncryptionConfiguration (apiserver.config.k8s.io/v1), the file of kube-apiserver's
--encryption-provider-config: read, validated with upstream's messages, and turned into Transformers.

Providers aescbc, aesgcm, secretbox and identity work as upstream's; kms is refused, because KMS needs a
KMS plugin (a gRPC service holding the key encryption key) that nothing here runs.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import tempfile
from typing import Any

import yaml

from timoneiro.api import field
from timoneiro.api.field import FieldError, Rendered
from timoneiro.api.validation.golit import cannot_unmarshal, string_slice
from timoneiro.storage.encryption.providers import (
    AESCBC,
    AESGCM,
    Identity,
    PrefixChoice,
    Secretbox,
    Transformer,
)
from timoneiro.storage.encryption.transformer import ANY, Transformers

API_VERSION = "apiserver.config.k8s.io/v1"
KIND = "EncryptionConfiguration"
AES_KEY_SIZES = (16, 24, 32)
SECRETBOX_KEY_SIZES = (32,)
# the provider fields, in the order upstream checks them
PROVIDER_FIELDS = ("kms", "aesgcm", "aescbc", "secretbox", "identity")
KEYED = {  # provider -> (stored prefix, cipher, key sizes, what "no key matched" names)
    "aesgcm": (b"k8s:enc:aesgcm:v1:", AESGCM, AES_KEY_SIZES, "AES"),
    "aescbc": (b"k8s:enc:aescbc:v1:", AESCBC, AES_KEY_SIZES, "AES"),
    "secretbox": (b"k8s:enc:secretbox:v1:", Secretbox, SECRETBOX_KEY_SIZES, "Secretbox"),
}
NON_REST = ("apiserveripinfo", "serviceipallocations", "servicenodeportallocations")


PARSING = "error while parsing file:"
LOADING = f"{PARSING} error while loading file:"
FILE = "encryption provider configuration file"


class ConfigError(Exception):
    """An encryption configuration the server refuses to start with."""


def load(path: str) -> Transformers:
    config = _decode(path)
    errors = validate(config)
    if errors:
        raise ConfigError(f"{PARSING} {field.aggregate(errors)}")
    return _build(config)


# decoding


def _decode(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        why = (e.strerror or str(e)).lower()
        raise ConfigError(f'{LOADING} error reading {FILE} "{path}": open {path}: {why}') from None
    if not data.strip():
        raise ConfigError(f'{LOADING} {FILE} "{path}" is empty')
    try:
        return _typed(yaml.safe_load(data))
    except (yaml.YAMLError, ValueError) as e:
        raise ConfigError(f'{PARSING} error decoding {FILE} "{path}": {e}') from None


def _typed(doc: Any) -> dict:
    """The document checked for kind, version and the types of the fields read (unknown ones are ignored,
    as upstream's decoder does)."""
    if not isinstance(doc, dict) or not doc.get("kind"):
        raise ValueError("Object 'Kind' is missing")
    if not doc.get("apiVersion"):
        raise ValueError("Object 'apiVersion' is missing")
    if doc["kind"] != KIND or doc["apiVersion"] != API_VERSION:
        raise ValueError(f'no kind "{doc["kind"]}" is registered for version "{doc["apiVersion"]}"')
    rules = _list(doc, "resources", "EncryptionConfiguration.resources", "[]v1.ResourceConfiguration")
    for rule in rules:
        _object(rule, "EncryptionConfiguration.resources", "v1.ResourceConfiguration")
        for name in _list(rule, "resources", "ResourceConfiguration.resources", "[]string"):
            if not isinstance(name, str):
                raise ValueError(cannot_unmarshal(name, "string", "ResourceConfiguration.resources"))
        providers = _list(rule, "providers", "ResourceConfiguration.providers", "[]v1.ProviderConfiguration")
        for provider in providers:
            _object(provider, "ResourceConfiguration.providers", "v1.ProviderConfiguration")
            for name in PROVIDER_FIELDS:
                _object(provider.get(name), f"ProviderConfiguration.{name}", f"v1.{name}Configuration", True)
            for name in KEYED:
                if provider.get(name) is not None:
                    for key in _list(provider[name], "keys", f"{name}.keys", "[]v1.Key"):
                        _object(key, f"{name}.keys", "v1.Key")
                        for attr in ("name", "secret"):
                            if not isinstance(key.setdefault(attr, ""), str):
                                raise ValueError(cannot_unmarshal(key[attr], "string", f"Key.{attr}"))
    return doc


def _list(parent: dict, name: str, struct_field: str, go_type: str) -> list:
    value = parent.get(name)
    if value is None:
        parent[name] = value = []
    if not isinstance(value, list):
        raise ValueError(cannot_unmarshal(value, go_type, struct_field))
    return value


def _object(value: Any, struct_field: str, go_type: str, optional: bool = False) -> None:
    if not isinstance(value, dict) and not (optional and value is None):
        raise ValueError(cannot_unmarshal(value, go_type, struct_field))


# validation (upstream's ValidateEncryptionConfiguration)


def validate(config: dict) -> list[FieldError]:
    rules = config["resources"]
    if not rules:
        return [field.required("resources", "at least one resources is required")]
    errors: list[FieldError] = []
    for i, rule in enumerate(rules):
        r, p = f"resources[{i}].resources", f"resources[{i}].providers"
        if not rule["resources"]:
            errors.append(field.required(r, f"at least one {r} is required"))
        errors += _overlaps(rule["resources"], r)
        errors += _names(rule["resources"], r)
        if not rule["providers"]:
            errors.append(field.required(p, f"at least one {p} is required"))
        for j, provider in enumerate(rule["providers"]):
            errors += _provider_errors(provider, f"{p}[{j}]")
    return errors


def _group_resource(name: str) -> tuple[str, str]:
    resource, _, group = name.partition(".")
    return group, resource


def _overlaps(names: list[str], path: str) -> list[FieldError]:
    parsed = [_group_resource(n) for n in names]
    duplicate = overlap = False
    for i, a in enumerate(parsed):
        for j, b in enumerate(parsed):
            if i == j:
                continue
            if a == b and not duplicate:
                duplicate = True
                continue
            if overlap:
                continue
            if a == (ANY, ANY) or (a[0] == b[0] and ANY in (a[1], b[1])):
                overlap = True
    shown = string_slice(names)
    errors = []
    if duplicate:
        errors.append(field.invalid(path, shown, "the same resource cannot be specified multiple times"))
    if overlap:
        why = "using overlapping resources such as 'secrets' and '*.' in the same resource list is not " \
              "allowed as they will be masked"
        errors.append(field.invalid(path, shown, why))
    return errors


def _names(names: list[str], path: str) -> list[FieldError]:
    errors = []
    for j, name in enumerate(names):
        group, resource = _group_resource(name)
        if name.lower() != name:
            why = "resource name should not contain capital letters"
        elif name == ANY:
            why = "use '*.' to encrypt all the resources from core API group or *.* to encrypt all resources"
        elif name in NON_REST:
            why = "resources which do not have REST API/s cannot be encrypted"
        elif group == "events.k8s.io":
            why = ("'*.events.k8s.io' objects are stored using the 'events' API group in etcd. Use 'events' "
                   "instead in the config file")
        elif group == "extensions":
            why = "'extensions' group has been removed and cannot be used for encryption"
        elif group == ANY and resource != ANY:
            why = "encrypting the same resource across groups is not supported"
        else:
            continue
        errors.append(field.invalid(f"{path}[{j}]", name, why))
    return errors


def _provider_errors(provider: dict, path: str) -> list[FieldError]:
    present = [name for name in PROVIDER_FIELDS if provider.get(name) is not None]
    shown = Rendered("{" + ", ".join(sorted(provider)) + "}")
    if not present:
        return [field.invalid(path, shown, "provider does not contain any of the expected providers: KMS, "
                                           "AESGCM, AESCBC, Secretbox, Identity")]
    errors = []
    if len(present) > 1:
        errors.append(field.invalid(path, shown, "more than one provider specified in a single element, "
                                                 "should split into different list elements"))
    name = present[0]
    if name == "kms":
        why = "KMS providers are not supported here (no KMS plugin runs beside this server): use aescbc, " \
              "aesgcm or secretbox"
        errors.append(field.forbidden(f"{path}.kms", why))
    elif name in KEYED:
        errors += _key_errors(provider[name]["keys"], f"{path}.{name}.keys", KEYED[name][2])
    return errors


def _key_errors(keys: list[dict], path: str, sizes: tuple[int, ...]) -> list[FieldError]:
    if not keys:
        return [field.required(path, "at least one keys is required")]
    errors = []
    for k, key in enumerate(keys):
        at = f"{path}[{k}]"
        if not key["name"]:
            errors.append(field.required(f"{at}.name", "name is a mandatory field for a key"))
        if not key["secret"]:
            errors.append(field.required(f"{at}.secret", "secret is a mandatory field for a key"))
            continue
        secret = _secret(key)
        if secret is None:
            errors.append(field.invalid(f"{at}.secret", "REDACTED", "secrets must be base64 encoded"))
        elif len(secret) not in sizes:
            expected = " ".join(map(str, sizes))
            why = f"secret is not of the expected length, got {len(secret)}, expected one of [{expected}]"
            errors.append(field.invalid(f"{at}.secret", "REDACTED", why))
    return errors


def _secret(key: dict) -> bytes | None:
    try:
        return base64.b64decode(key["secret"], validate=True)
    except (binascii.Error, ValueError):
        return None


# building the transformers


def _build(config: dict) -> Transformers:
    rules: dict[tuple[str, str], list[tuple[bytes, Transformer]]] = {}
    for rule in config["resources"]:
        providers = [_provider(p) for p in rule["providers"]]
        for name in rule["resources"]:
            gr = _group_resource(name)
            for wider in ((gr[0], ANY), (ANY, ANY)):
                if wider in rules:
                    raise ConfigError(f'error while building transformers: resource "{_rule_name(gr)}" is '
                                      f'masked by earlier rule "{_rule_name(wider)}"')
            rules.setdefault(gr, []).extend(providers)
    return Transformers({gr: PrefixChoice(p, "no matching prefix found") for gr, p in rules.items()})


def _rule_name(gr: tuple[str, str]) -> str:
    group, resource = gr
    return f"{resource}.{group}" if group or resource == ANY else resource


def _provider(provider: dict) -> tuple[bytes, Transformer]:
    name = next(n for n in PROVIDER_FIELDS if provider.get(n) is not None)
    if name == "identity":
        return b"", Identity()
    prefix, cipher, _, what = KEYED[name]
    keys = [(f"{k['name']}:".encode(), cipher(_secret(k))) for k in provider[name]["keys"]]
    return prefix, PrefixChoice(keys, f"no matching key was found for the provided {what} transformer")


# the default


def ensure_default(data_dir: str) -> str:
    """DATA_DIR/pki/encryption-config.yaml, written once (0600): Secrets encrypted with a fresh random key.

    kube-apiserver encrypts nothing unless configured; EKS encrypts Secrets by default, and so do we.
    The provider is secretbox: authenticated (aescbc is not: upstream's docs call it weak), and its 192-bit
    random nonces never wear the key out, while aesgcm's random 96-bit nonces make upstream ask for a
    rotation every 200k writes, which no one would do for a generated key. identity comes second, so that
    Secrets written before encryption was on still read (and are encrypted by their next write).
    """
    pki = os.path.join(data_dir, "pki")
    path = os.path.join(pki, "encryption-config.yaml")
    if os.path.exists(path):
        return path
    os.makedirs(pki, exist_ok=True)
    secret = base64.b64encode(os.urandom(32)).decode()
    doc = {"apiVersion": API_VERSION, "kind": KIND, "resources": [{
        "resources": ["secrets"],
        "providers": [{"secretbox": {"keys": [{"name": "key1", "secret": secret}]}}, {"identity": {}}]}]}
    fd, tmp = tempfile.mkstemp(dir=pki, prefix=".encryption-config")  # created 0600
    try:
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(doc, f, sort_keys=False)
        with contextlib.suppress(FileExistsError):  # never replace a file another server wrote meanwhile
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return path
