"""The CertificateSigningRequest strategy (upstream's pkg/registry/certificates/certificates): a request is
immutable once made; who made it is recorded from the request's user, never from the body; its status
changes only through /status (the certificate and conditions other than Approved and Denied) and
/approval (the conditions)."""

from __future__ import annotations

import copy

from timoneiro.api.kinds import Kind, Strategy
from timoneiro.apiserver.meta import now

APPROVAL_TYPES = ("Approved", "Denied")
REQUESTER_FIELDS = ("username", "uid", "groups", "extra")


def conditions(obj: dict) -> list[dict]:
    return (obj.get("status") or {}).get("conditions") or []


class CertificateSigningRequestStrategy(Strategy):
    def prepare_for_create(self, kind: Kind, obj: dict) -> None:
        """Requester fields are cleared here and set from the request's user by the API server (it knows
        the user); the status starts empty: nobody creates an approved request."""
        spec = obj.setdefault("spec", {})
        for field in REQUESTER_FIELDS:
            spec.pop(field, None)
        super().prepare_for_create(kind, obj)

    def prepare_for_update(self, kind: Kind, new: dict, old: dict) -> None:
        super().prepare_for_update(kind, new, old)
        new["spec"] = copy.deepcopy(old.get("spec") or {})

    def prepare_for_status_update(self, kind: Kind, new: dict, old: dict) -> dict:
        """The spec stays; Approved and Denied conditions stay as they were unless some were added or
        removed (which validation then refuses)."""
        out = super().prepare_for_status_update(kind, new, old)
        for type_ in APPROVAL_TYPES:
            _keep_conditions(out, old, type_)
        _stamp_conditions(out, old)
        return out

    def prepare_for_approval(self, kind: Kind, new: dict, old: dict) -> None:
        """An /approval write changes the conditions and nothing else of spec and status."""
        _stamp_conditions(new, old)
        new["spec"] = copy.deepcopy(old.get("spec") or {})
        status = copy.deepcopy(old.get("status") or {})
        status.pop("conditions", None)
        if conditions(new):
            status["conditions"] = conditions(new)
        new["status"] = status


def _keep_conditions(new: dict, old: dict, type_: str) -> None:
    """Put back the old instances of a condition type if the new object has as many of them
    (preserveConditionInstances)."""
    new_list = conditions(new)
    at = [i for i, c in enumerate(new_list) if c.get("type") == type_]
    before = [c for c in conditions(old) if c.get("type") == type_]
    if len(at) == len(before):
        for i, c in zip(at, before, strict=True):
            new_list[i] = copy.deepcopy(c)


def _stamp_conditions(new: dict, old: dict) -> None:
    """lastUpdateTime now where unset; lastTransitionTime from the old condition of the same type and
    status, else now (populateConditionTimestamps)."""
    stamp = now()
    for c in conditions(new):
        if not c.get("lastUpdateTime"):
            c["lastUpdateTime"] = stamp
        if not c.get("lastTransitionTime"):
            c["lastTransitionTime"] = next(
                (o["lastTransitionTime"] for o in conditions(old) if o.get("type") == c.get("type")
                 and o.get("status") == c.get("status") and o.get("lastTransitionTime")), stamp)
