"""The review APIs: asking the authorizers (SubjectAccessReview, LocalSubjectAccessReview,
SelfSubjectAccessReview), listing what a user may do in a namespace (SelfSubjectRulesReview), and who the
requester is (SelfSubjectReview). `kubectl auth can-i` and `kubectl auth whoami` are built on them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from timoneiro.api.field import FieldError, invalid
from timoneiro.api.kinds import Kind, Strategy
from timoneiro.apiserver import errors
from timoneiro.apiserver.authn import UserInfo
from timoneiro.apiserver.generic import Context
from timoneiro.apiserver.requestinfo import RequestInfo

if TYPE_CHECKING:
    from timoneiro.apiserver.app import APIServer

AUTHORIZATION = "authorization.k8s.io"
AUTHENTICATION = "authentication.k8s.io"


class ReviewStrategy(Strategy):
    """A review is answered, not stored: it needs no name, and its spec is checked where it is answered."""

    def validate(self, kind: Kind, obj: dict) -> list[FieldError]:
        return []


def install(api: APIServer) -> None:
    reviews = Reviews(api)
    answers = {
        (AUTHORIZATION, "subjectaccessreviews"): reviews.subject_access,
        (AUTHORIZATION, "localsubjectaccessreviews"): reviews.local_subject_access,
        (AUTHORIZATION, "selfsubjectaccessreviews"): reviews.self_subject_access,
        (AUTHORIZATION, "selfsubjectrulesreviews"): reviews.self_subject_rules,
        (AUTHENTICATION, "selfsubjectreviews"): reviews.self_subject,
    }
    strategy = ReviewStrategy()
    for group, plural in answers:
        api.registry.get(group, "v1", plural).strategy = strategy
    api.reviews.update(answers)


def request_attributes(spec: dict) -> RequestInfo:
    """The request a review's spec describes, as the authorizers see requests."""
    if spec.get("resourceAttributes") is not None:
        r = spec["resourceAttributes"]
        return RequestInfo(True, "", verb=r.get("verb", ""), group=r.get("group", ""), version=r.get("version", ""),
                           namespace=r.get("namespace", ""), resource=r.get("resource", ""),
                           name=r.get("name", ""), subresource=r.get("subresource", ""))
    n = spec.get("nonResourceAttributes") or {}
    return RequestInfo(False, n.get("path", ""), verb=n.get("verb", ""))


def attribute_errors(spec: dict) -> list:
    has_resource, has_other = spec.get("resourceAttributes") is not None, \
        spec.get("nonResourceAttributes") is not None
    if has_resource and has_other:
        return [invalid("spec.nonResourceAttributes", spec["nonResourceAttributes"],
                        "cannot be specified in combination with resourceAttributes")]
    if not has_resource and not has_other:
        return [invalid("spec.resourceAttributes", None,
                        "exactly one of nonResourceAttributes or resourceAttributes must be specified")]
    return []


def subject_errors(spec: dict) -> list:
    if spec.get("user") or spec.get("groups"):
        return []
    return [invalid("spec.user", spec.get("user", ""), "at least one of user or group must be specified")]


class Reviews:
    def __init__(self, api: APIServer) -> None:
        self.api = api

    def _kind(self, group: str, plural: str):
        return self.api.registry.get(group, "v1", plural)

    def _decide(self, user: UserInfo, obj: dict) -> dict:
        allowed, reason = self.api.authorization.authorize(user, request_attributes(obj["spec"]))
        status: dict = {"allowed": allowed}
        if reason:
            status["reason"] = reason
        obj["status"] = status
        return obj

    def _answer(self, plural: str, errs: list, user: UserInfo, obj: dict) -> dict:
        if errs:
            raise errors.invalid(self._kind(AUTHORIZATION, plural), "", errs)
        return self._decide(user, obj)

    async def subject_access(self, ctx: Context, obj: dict) -> dict:
        spec = obj.get("spec") or {}
        return self._answer("subjectaccessreviews", attribute_errors(spec) + subject_errors(spec),
                            self._subject(spec), obj)

    async def local_subject_access(self, ctx: Context, obj: dict) -> dict:
        spec = obj.get("spec") or {}
        # the handler refused an object of another namespace; one without any is the request's
        namespace = obj.setdefault("metadata", {}).setdefault("namespace", ctx.namespace)
        errs = attribute_errors(spec)
        if spec.get("nonResourceAttributes") is not None:
            errs = [invalid("spec.nonResourceAttributes", spec["nonResourceAttributes"],
                            "disallowed on this kind of request")]
        elif spec.get("resourceAttributes") is not None and \
                spec["resourceAttributes"].get("namespace", "") != namespace:
            errs.append(invalid("spec.resourceAttributes.namespace", spec["resourceAttributes"].get("namespace", ""),
                                "must match metadata.namespace"))
        return self._answer("localsubjectaccessreviews", errs + subject_errors(spec), self._subject(spec), obj)

    async def self_subject_access(self, ctx: Context, obj: dict) -> dict:
        return self._answer("selfsubjectaccessreviews", attribute_errors(obj.get("spec") or {}), ctx.user, obj)

    async def self_subject_rules(self, ctx: Context, obj: dict) -> dict:
        namespace = (obj.get("spec") or {}).get("namespace", "")
        if not namespace:
            raise errors.bad_request("no namespace on request")
        rules, problems, incomplete = self.rules_for(ctx.user, namespace)
        status: dict = {
            "resourceRules": [{k: r[k] for k in ("verbs", "apiGroups", "resources", "resourceNames") if r.get(k)}
                              for r in rules if r.get("resources")],
            "nonResourceRules": [{k: r[k] for k in ("verbs", "nonResourceURLs") if r.get(k)}
                                 for r in rules if r.get("nonResourceURLs")],
            "incomplete": incomplete}
        if problems:
            status["evaluationError"] = problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]"
        obj["status"] = status
        return obj

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[dict], list[str], bool]:
        """What every authorizer that can list a user's rules lists (upstream's union rule resolver)."""
        rules: list[dict] = []
        problems: list[str] = []
        incomplete = False
        for authorizer in self.api.authorization.authorizers:
            lister = getattr(authorizer, "rules_for", None)
            if lister is not None:
                more, more_problems, partial = lister(user, namespace)
                rules += more
                problems += more_problems
                incomplete = incomplete or partial
        return rules, problems, incomplete

    async def self_subject(self, ctx: Context, obj: dict) -> dict:
        obj["status"] = {"userInfo": ctx.user.as_api()}
        return obj

    @staticmethod
    def _subject(spec: dict) -> UserInfo:
        extra = {k: tuple(v or ()) for k, v in (spec.get("extra") or {}).items()}
        return UserInfo(spec.get("user", ""), spec.get("uid", ""), tuple(spec.get("groups") or ()), extra)
