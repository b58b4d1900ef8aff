"""TokenReview (authentication.k8s.io/v1): whether a bearer token authenticates, and as whom, asked of the
server's own authenticators as upstream asks them: through a request that carries nothing but the token,
for the audiences the review names (the server's own if none)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from timoneiro.apiserver import errors
from timoneiro.apiserver.authn import Unauthorized, UserInfo, identify
from timoneiro.apiserver.authn.serviceaccount import AUTHENTICATED_AUDIENCES, REQUESTED_AUDIENCES
from timoneiro.apiserver.authz.reviews import AUTHENTICATION, ReviewStrategy
from timoneiro.apiserver.http import Request

if TYPE_CHECKING:
    from timoneiro.apiserver.app import APIServer
    from timoneiro.apiserver.generic import Context

INVALID_TOKEN = "invalid bearer token"


def install(api: APIServer) -> None:
    api.registry.get(AUTHENTICATION, "v1", "tokenreviews").strategy = ReviewStrategy()
    api.reviews[(AUTHENTICATION, "tokenreviews")] = TokenReviews(api)


class TokenReviews:
    def __init__(self, server: APIServer) -> None:
        self.server = server

    async def __call__(self, ctx: Context, review: dict) -> dict:
        spec = review.get("spec") or {}
        token = spec.get("token")
        if not token:
            raise errors.bad_request("token is required for TokenReview in authentication")
        api_audiences = list(self.server.service_accounts.audiences)
        requested = list(spec.get("audiences") or ()) or api_audiences
        user, audiences, error = await self.authenticate(token, requested, api_audiences)
        status: dict = {"user": user.as_api() if user else {}}
        if user:
            status = {"authenticated": True, **status, "audiences": audiences}
        if error:
            status["error"] = error
        review["status"] = status
        return review

    async def authenticate(self, token: str, requested: list[str], api_audiences: list[str]
                           ) -> tuple[UserInfo | None, list[str], str]:
        """(user, the audiences it was authenticated for, error). An authenticator that does not know of
        audiences (static tokens, bootstrap tokens) counts only for the server's own, as upstream wraps
        such authenticators."""
        agnostic_audiences = [a for a in requested if a in api_audiences]
        for authenticator in self.server.authentication.authenticators:
            request = Request({"type": "http", "method": "POST", "path": "/", REQUESTED_AUDIENCES: requested,
                               "headers": [(b"authorization", f"Bearer {token}".encode())]}, None)
            try:
                user = await identify(authenticator, request)
            except Unauthorized as e:
                return None, [], str(e)
            if user is None:
                continue
            audiences = request.scope.get(AUTHENTICATED_AUDIENCES, agnostic_audiences)
            if audiences:
                return user, audiences, ""
        return None, [], INVALID_TOKEN
