"""The query and path parameters kube-apiserver's operations declare, in Swagger 2.0 form."""

from __future__ import annotations


def _query(name: str, type_: str, description: str) -> dict:
    return {"description": description, "in": "query", "name": name, "type": type_, "uniqueItems": True}


def path_param(name: str, description: str) -> dict:
    return {"description": description, "in": "path", "name": name, "required": True, "type": "string",
            "uniqueItems": True}


PRETTY = _query("pretty", "string", "If 'true', the output is pretty printed.")
NAMESPACE = path_param("namespace", "the namespace of the objects")
PROXY_PATH = path_param("path", "path to the resource")

LIST = [
    _query("allowWatchBookmarks", "boolean", "Ask for BOOKMARK watch events; ignored when not watching."),
    _query("continue", "string", "The continue token of a previous paginated list response."),
    _query("fieldSelector", "string", "Only return objects whose fields match this selector."),
    _query("labelSelector", "string", "Only return objects whose labels match this selector."),
    _query("limit", "integer", "The most objects to return; the response's continue token fetches more."),
    _query("resourceVersion", "string", "Which resource version the request may be served from."),
    _query("resourceVersionMatch", "string", "How resourceVersion applies to a list: Exact or NotOlderThan."),
    _query("sendInitialEvents", "boolean", "Start a watch with synthetic events for the existing objects."),
    _query("timeoutSeconds", "integer", "Time limit for the list or watch call."),
    _query("watch", "boolean", "Stream changes to the described objects instead of listing them."),
]
_DRY_RUN = _query("dryRun", "string", "When 'All', the request is processed but nothing is persisted.")
_FIELD_MANAGER = _query("fieldManager", "string", "Name of the actor making the change, recorded in managedFields.")
_FIELD_VALIDATION = _query("fieldValidation", "string",
                           "How to treat unknown or duplicate fields in the body: Ignore, Warn (default) or Strict.")
WRITE = [_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION]
PATCH = [*WRITE, _query("force", "boolean", "Take over conflicting fields; only for apply patches.")]
_DELETE_ONLY = [
    _query("gracePeriodSeconds", "integer", "Seconds before the object is deleted; zero deletes at once."),
    _query("ignoreStoreReadErrorWithClusterBreakingPotential", "boolean",
           "Delete an object that cannot be read from storage, skipping finalizers and preconditions."),
    _query("orphanDependents", "boolean", "Deprecated: orphan the dependents (use propagationPolicy)."),
    _query("propagationPolicy", "string", "Garbage collection of dependents: Orphan, Background or Foreground."),
]
DELETE = sorted([_DRY_RUN, *_DELETE_ONLY], key=lambda p: p["name"])
DELETE_COLLECTION = sorted([_DRY_RUN, *_DELETE_ONLY, *(p for p in LIST if p["name"] not in
                                                      ("allowWatchBookmarks", "watch"))],
                           key=lambda p: p["name"])

_CONTAINER = _query("container", "string", "The container to use; defaults to the only one.")
_STREAMS = [
    _query("stderr", "boolean", "Redirect the standard error stream."),
    _query("stdin", "boolean", "Redirect the standard input stream."),
    _query("stdout", "boolean", "Redirect the standard output stream."),
    _query("tty", "boolean", "Allocate a terminal."),
]
LOG = [
    _CONTAINER,
    _query("follow", "boolean", "Stream the log as it grows."),
    _query("insecureSkipTLSVerifyBackend", "boolean", "Do not verify the kubelet's serving certificate."),
    _query("limitBytes", "integer", "The most bytes of log to return."),
    _query("previous", "boolean", "Return the log of the previous, terminated container."),
    _query("sinceSeconds", "integer", "Only return lines newer than this many seconds."),
    _query("tailLines", "integer", "Only return this many lines from the end of the log."),
    _query("timestamps", "boolean", "Prefix every line with its RFC3339 timestamp."),
]
EXEC = [_query("command", "string", "The command to run."), _CONTAINER, *_STREAMS]
ATTACH = [_CONTAINER, *_STREAMS]
PORT_FORWARD = [_query("ports", "integer", "The ports to forward.")]
PROXY = [_query("path", "string", "Path to proxy the request to.")]
