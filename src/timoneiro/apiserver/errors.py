"""API errors and the metav1.Status bodies kube-apiserver answers them with."""

from __future__ import annotations

from typing import TYPE_CHECKING

from timoneiro.api.field import FieldError, aggregate

if TYPE_CHECKING:
    from timoneiro.api.kinds import Kind


class APIError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message}
        if self.reason:
            body["reason"] = self.reason
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _details(name: str, kind: Kind | None, **extra) -> dict:
    d: dict = {}
    if name:
        d["name"] = name
    if kind is not None:
        if kind.group:
            d["group"] = kind.group
        d["kind"] = kind.plural
    d.update(extra)
    return d


def not_found(kind: Kind, name: str) -> APIError:
    return APIError(404, "NotFound", f'{kind.qualified_resource} "{name}" not found', _details(name, kind))


def namespace_not_found(name: str) -> APIError:
    return APIError(404, "NotFound", f'namespaces "{name}" not found', {"name": name, "kind": "namespaces"})


def already_exists(kind: Kind, name: str) -> APIError:
    return APIError(409, "AlreadyExists", f'{kind.qualified_resource} "{name}" already exists',
                    _details(name, kind))


def conflict(kind: Kind, name: str, why: str) -> APIError:
    return APIError(409, "Conflict", f'Operation cannot be fulfilled on {kind.qualified_resource} "{name}": {why}',
                    _details(name, kind))


STALE = "the object has been modified; please apply your changes to the latest version and try again"


def invalid(kind: Kind, name: str, errors: list[FieldError]) -> APIError:
    details = {"name": name, "group": kind.group, "kind": kind.kind, "causes": [e.cause() for e in errors]}
    if not kind.group:
        del details["group"]
    return APIError(422, "Invalid", f'{kind.qualified_kind} "{name}" is invalid: {aggregate(errors)}', details)


def options_invalid(options_kind: str, errors: list[FieldError]) -> APIError:
    """A bad query option: kube-apiserver validates them as a CreateOptions/PatchOptions/... object."""
    return APIError(422, "Invalid", f'{options_kind}.meta.k8s.io "" is invalid: {aggregate(errors)}',
                    {"group": "meta.k8s.io", "kind": options_kind, "causes": [e.cause() for e in errors]})


def unrecognized(kind: Kind, detail: str, body: bytes, yaml: bool) -> APIError:
    """A body that does not decode, shown (as upstream shows it) by its first 30 bytes."""
    head = body[:30]
    shown = (head.hex() if yaml else head.decode("utf-8", "replace")) if body else "<empty>"
    if len(body) > 30:
        shown += " ..."
    return bad_request(f"the object provided is unrecognized (must be of type {kind.kind}): {detail} ({shown})")


def stale_precondition(kind: Kind, name: str, wanted: str, actual: str) -> APIError:
    return APIError(409, "Conflict", f'Operation cannot be fulfilled on {kind.kind} "{name}": the ResourceVersion '
                    f"in the precondition ({wanted}) does not match the ResourceVersion in record ({actual}). "
                    "The object might have been modified", {"name": name, "kind": kind.kind})


def namespace_terminating(kind: Kind, name: str, namespace: str) -> APIError:
    err = forbidden(kind, name, f"unable to create new content in namespace {namespace} because it is being "
                    "terminated")
    err.details["causes"] = [{"reason": "NamespaceTerminating", "field": "metadata.namespace",
                              "message": f"namespace {namespace} is being terminated"}]
    return err


def forbidden(kind: Kind, name: str, why: str) -> APIError:
    subject = f'{kind.qualified_resource} "{name}"' if name else kind.qualified_resource
    return APIError(403, "Forbidden", f"{subject} is forbidden: {why}", _details(name, kind))


def unauthorized() -> APIError:
    return APIError(401, "Unauthorized", "Unauthorized")


def request_forbidden(info, message: str, reason: str = "") -> APIError:
    """403 for a request the authorizers refused (upstream's responsewriters.Forbidden): `message` says
    who cannot do what, `reason` why, if an authorizer said."""
    why = f"{message}: {reason}" if reason else message
    if not info.is_resource:
        return APIError(403, "Forbidden", f"forbidden: {why}", {})
    qualified = f"{info.resource}.{info.group}" if info.group else info.resource
    subject = f'{qualified} "{info.name}"' if info.name else qualified
    details: dict = {"name": info.name} if info.name else {}
    if info.group:
        details["group"] = info.group
    details["kind"] = info.resource
    return APIError(403, "Forbidden", f"{subject} is forbidden: {why}", details)


def bad_request(message: str) -> APIError:
    return APIError(400, "BadRequest", message)


def method_not_supported(kind: Kind, action: str) -> APIError:
    return APIError(405, "MethodNotAllowed", f"{action} is not supported on resources of kind "
                    f'"{kind.qualified_resource}"', _details("", kind))


def gone(message: str) -> APIError:
    return APIError(410, "Expired", message)


def too_large(limit: int) -> APIError:
    return APIError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}")


def unsupported_media_type(content_type: str) -> APIError:
    return APIError(415, "UnsupportedMediaType", 'the body of the request was in an unknown format - accepted '
                    'media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf'
                    if not content_type else f"the server does not support media type {content_type!r}")


def not_acceptable(accept: str) -> APIError:
    return APIError(406, "NotAcceptable", "only the following media types are accepted: application/json, "
                    "application/yaml, application/vnd.kubernetes.protobuf")


def path_not_found(path: str) -> APIError:
    return APIError(404, "NotFound", "the server could not find the requested resource")


def too_many_requests(message: str, details: dict | None = None) -> APIError:
    return APIError(429, "TooManyRequests", message, details)


def internal(message: str) -> APIError:
    return APIError(500, "InternalError", f"Internal error occurred: {message}")
