"""Kubeconfig files: reading the current context into a ClientConfig, and merging a cluster into one as kind does."""

from __future__ import annotations

import base64
import contextlib
import os
import time
from collections.abc import Iterator

import yaml

from timoneiro.client.config import ClientConfig
from timoneiro.files import write_private

SECTIONS = (("clusters", "cluster"), ("contexts", "context"), ("users", "user"))


class KubeconfigError(Exception):
    pass


def kubeconfig_paths() -> list[str]:
    """The files kubectl reads, in precedence order: $KUBECONFIG's list, else ~/.kube/config."""
    listed = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    return listed or [os.path.expanduser("~/.kube/config")]


def load_kubeconfig(path: str | None = None, context: str | None = None) -> ClientConfig:
    """The client config of a context (default: current-context) from one file or kubectl's merged files.

    As with kubectl, the first file to define a name wins, and relative file paths are relative to the
    file that holds them.
    """
    merged: dict[str, dict[str, tuple[dict, str]]] = {section: {} for section, _ in SECTIONS}
    current = ""
    for file in [path] if path else kubeconfig_paths():
        doc = _read(file)
        base = os.path.dirname(os.path.abspath(file))
        current = current or doc.get("current-context") or ""
        for section, field in SECTIONS:
            for entry in doc.get(section) or ():
                merged[section].setdefault(entry.get("name", ""), (entry.get(field) or {}, base))
    name = context or current
    if not name:
        raise KubeconfigError("no context chosen and no current-context set")
    ctx, _ = _entry(merged, "contexts", name)
    cluster, cluster_dir = _entry(merged, "clusters", ctx.get("cluster", ""))
    user, user_dir = _entry(merged, "users", ctx.get("user", "")) if ctx.get("user") else ({}, "")
    if not cluster.get("server"):
        raise KubeconfigError(f'cluster "{ctx.get("cluster")}" has no server')
    token = user.get("token")
    if not token and user.get("tokenFile"):
        with open(_resolve(user["tokenFile"], user_dir)) as f:
            token = f.read().strip()
    return ClientConfig(
        server=cluster["server"],
        ca_data=_b64(cluster.get("certificate-authority-data")),
        ca_file=_resolve(cluster.get("certificate-authority"), cluster_dir),
        cert_data=_b64(user.get("client-certificate-data")),
        cert_file=_resolve(user.get("client-certificate"), user_dir),
        key_data=_b64(user.get("client-key-data")),
        key_file=_resolve(user.get("client-key"), user_dir),
        token=token,
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify")),
        namespace=ctx.get("namespace") or "default",
    )


def merge_kubeconfig(name: str, server: str, *, ca_data: bytes | None = None, cert_data: bytes | None = None,
                     key_data: bytes | None = None, token: str | None = None, exec_plugin: dict | None = None,
                     context: str | None = None, user_name: str | None = None, path: str | None = None,
                     set_current: bool = True) -> str:
    """Add or replace the cluster `name`, its user and its context (both also `name` unless given) in a
    kubeconfig, keeping everything else; return the file written. The file is the one kubectl would write new
    entries to unless `path` is given; it is locked while merged, replaced atomically and kept private (0600),
    since it may hold credentials."""
    path = path or kubeconfig_write_target()
    context, user_name = context or name, user_name or name
    cluster: dict = {"server": server}
    if ca_data:
        cluster["certificate-authority-data"] = base64.b64encode(ca_data).decode()
    user: dict = {}
    if cert_data:
        user["client-certificate-data"] = base64.b64encode(cert_data).decode()
    if key_data:
        user["client-key-data"] = base64.b64encode(key_data).decode()
    if token:
        user["token"] = token
    if exec_plugin:
        user["exec"] = exec_plugin
    names = {"clusters": name, "contexts": context, "users": user_name}
    entries = {"clusters": cluster, "contexts": {"cluster": name, "user": user_name}, "users": user}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with _locked(path):
        doc = _read(path) if os.path.exists(path) else {}
        doc.setdefault("apiVersion", "v1")
        doc.setdefault("kind", "Config")
        doc.setdefault("preferences", {})
        for section, field in SECTIONS:
            kept = [e for e in doc.get(section) or () if e.get("name") != names[section]]
            doc[section] = [*kept, {"name": names[section], field: entries[section]}]
        if set_current:
            doc["current-context"] = context
        write_private(path, yaml.safe_dump(doc, sort_keys=False).encode())
    return path


def remove_kubeconfig(name: str) -> list[str]:
    """Drop the cluster, user and context `name` from every kubeconfig file kubectl reads, and unset
    current-context where it named them; return the files changed."""
    changed = []
    for path in kubeconfig_paths():
        if not os.path.exists(path):
            continue
        with _locked(path):
            doc = _read(path)
            kept = {section: [e for e in doc.get(section) or () if e.get("name") != name] for section, _ in SECTIONS}
            current = doc.get("current-context") == name
            if not current and all(len(kept[s]) == len(doc.get(s) or ()) for s in kept):
                continue
            doc.update(kept)
            if current:
                doc["current-context"] = ""
            write_private(path, yaml.safe_dump(doc, sort_keys=False).encode())
        changed.append(path)
    return changed


def kubeconfig_contexts(path: str) -> set[str]:
    """The names of the contexts a kubeconfig file holds (none if it does not exist)."""
    return {e.get("name") for e in _read(path).get("contexts") or ()}


def kubeconfig_write_target() -> str:
    """As client-go does: the first $KUBECONFIG file that exists, else its last one, else ~/.kube/config."""
    paths = kubeconfig_paths()
    return next((p for p in paths if os.path.exists(p)), paths[-1])


def _read(path: str) -> dict:
    try:
        with open(path) as f:
            doc = yaml.safe_load(f) or {}
    except FileNotFoundError:
        return {}
    except yaml.YAMLError as e:
        raise KubeconfigError(f"{path}: {e}") from None
    if not isinstance(doc, dict):
        raise KubeconfigError(f"{path}: not a kubeconfig")
    return doc


def _entry(merged: dict[str, dict[str, tuple[dict, str]]], section: str, name: str) -> tuple[dict, str]:
    try:
        return merged[section][name]
    except KeyError:
        raise KubeconfigError(f'{section[:-1]} "{name}" not found in kubeconfig') from None


def _resolve(path: str | None, base: str) -> str | None:
    return os.path.join(base, os.path.expanduser(path)) if path else None


def _b64(text: str | None) -> bytes | None:
    return base64.b64decode(text) if text else None


@contextlib.contextmanager
def _locked(path: str, wait: float = 10.0) -> Iterator[None]:
    """kubectl's and kind's convention: `<file>.lock`, created exclusively, removed when done."""
    lock = path + ".lock"
    deadline = time.monotonic() + wait
    while True:
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            break
        except FileExistsError:
            if time.monotonic() > deadline:
                raise KubeconfigError(f"{lock} exists: another process is writing the kubeconfig") from None
            time.sleep(0.05)
    try:
        yield
    finally:
        os.unlink(lock)
