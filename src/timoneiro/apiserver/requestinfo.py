"""Turn a request path and method into what it asks for, as upstream's RequestInfoFactory does."""

from __future__ import annotations

from dataclasses import dataclass

NAMESPACE_SUBRESOURCES = {"status", "finalize"}
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}


def flag(query: dict[str, str], name: str) -> bool:
    """A boolean query parameter, read as Go's strconv.ParseBool reads it."""
    return query.get(name, "") in _TRUE


@dataclass
class RequestInfo:
    is_resource: bool
    path: str
    verb: str = ""
    group: str = ""
    version: str = ""
    namespace: str = ""
    resource: str = ""
    name: str = ""
    subresource: str = ""
    parts: tuple[str, ...] = ()


def parse(method: str, path: str, query: dict[str, str]) -> RequestInfo:
    parts = [p for p in path.split("/") if p]
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return RequestInfo(False, path, verb=method.lower(), parts=tuple(parts))
    if parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) < 4:
            return RequestInfo(False, path, verb=method.lower(), parts=tuple(parts))
        group, version, rest = parts[1], parts[2], parts[3:]
    info = RequestInfo(True, path, group=group, version=version)
    legacy_watch = rest[0] == "watch"
    if legacy_watch:
        rest = rest[1:]
    if rest and rest[0] == "namespaces" and len(rest) > 1:
        info.namespace = rest[1]
        if len(rest) > 2 and rest[2] not in NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
        else:
            info.namespace = ""
            info.resource, info.name = "namespaces", rest[1]
            rest = rest[2:]
            info.subresource = rest[0] if rest else ""
            rest = []
    if rest:
        info.resource = rest[0]
        info.name = rest[1] if len(rest) > 1 else ""
        info.subresource = rest[2] if len(rest) > 2 else ""
        info.parts = tuple(rest[3:])
    watch = legacy_watch or flag(query, "watch")
    m = method.upper()
    if m in ("GET", "HEAD"):
        info.verb = "watch" if watch else ("get" if info.name else "list")
    elif m == "POST":
        info.verb = "create"
    elif m == "PUT":
        info.verb = "update"
    elif m == "PATCH":
        info.verb = "patch"
    elif m == "DELETE":
        info.verb = "delete" if info.name else "deletecollection"
    else:
        info.verb = m.lower()
    return info
