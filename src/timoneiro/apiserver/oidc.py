"""Service-account issuer discovery: the OpenID configuration and the key set an outside party (a cloud's
workload identity, IRSA) verifies the cluster's service-account tokens with, as kube-apiserver serves
them. Both documents are rendered once; clients may cache them for an hour."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from timoneiro.apiserver.authn.serviceaccount import ServiceAccountTokens

CONFIG_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/openid/v1/jwks"
CACHE_CONTROL = b"public, max-age=3600"


class IssuerDiscovery:
    def __init__(self, tokens: ServiceAccountTokens, external_address: str) -> None:
        """`external_address` is host:port: without --service-account-jwks-uri upstream points jwks_uri
        at https://EXTERNAL_ADDRESS/openid/v1/jwks."""
        jwk = tokens.jwk()
        self.config = orjson.dumps({"issuer": tokens.issuer, "jwks_uri": f"https://{external_address}{JWKS_PATH}",
                                    "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
                                    "id_token_signing_alg_values_supported": [jwk["alg"]]})
        self.jwks = orjson.dumps({"keys": [jwk]})

    async def serve(self, method: str, path: str, send) -> None:
        if method != "GET":
            await _send(send, 405, b"405: Method Not Allowed", b"text/plain; charset=utf-8")
        elif path == CONFIG_PATH:
            await _send(send, 200, self.config, b"application/json", CACHE_CONTROL)
        else:
            await _send(send, 200, self.jwks, b"application/jwk-set+json", CACHE_CONTROL)


async def _send(send, status: int, body: bytes, content_type: bytes, cache_control: bytes = b"") -> None:
    """Written here rather than by http.respond, whose Cache-Control (no-cache, private) these override."""
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if cache_control:
        headers.append((b"cache-control", cache_control))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
