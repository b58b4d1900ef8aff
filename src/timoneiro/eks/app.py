"""The service's HTTP face, an ASGI application: every call is SigV4-checked, read in the protocol of the
service its signature is scoped to (EKS: REST-JSON; Auto Scaling, STS and IAM: Query), authorized against
the caller's IAM policies, handed to the operation's handler and answered in that protocol. The clusters'
token-authentication webhook is the one unsigned path."""

from __future__ import annotations

import logging
import re
import uuid
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote

import orjson

from timoneiro.eks import sigv4
from timoneiro.eks.authorization import authorize
from timoneiro.eks.errors import AwsError
from timoneiro.eks.operations import Request, load_all
from timoneiro.eks.protocol import (
    PROTOCOLS,
    Response,
    internal_failure,
    not_implemented,
    query,
    restjson,
    service_model,
    too_large,
)

if TYPE_CHECKING:
    from timoneiro.eks.service import Eks

log = logging.getLogger("timoneiro.eks")
MAX_BODY = 1024 * 1024
WEBHOOK = re.compile(r"/webhooks/authentication/([^/]+)")
FORM = "application/x-www-form-urlencoded"


class Call:
    """One HTTP request as the protocols and the signature check need it."""

    def __init__(self, scope: dict) -> None:
        self.method: str = scope["method"]
        self.raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        self.query_string = scope.get("query_string", b"").decode("latin-1")
        self.headers: dict[str, str] = {}
        for name, value in scope.get("headers", ()):
            key, text = name.decode("latin-1").lower(), value.decode("latin-1")
            self.headers[key] = f"{self.headers[key]},{text}" if key in self.headers else text
        host = self.headers.get("host") or "{}:{}".format(*scope.get("server") or ("127.0.0.1", 80))
        self.url = f"http://{host}{self.raw_path}" + (f"?{self.query_string}" if self.query_string else "")
        self.query: dict[str, list[str]] = {}
        for key, value in parse_qsl(self.query_string, keep_blank_values=True):
            self.query.setdefault(key, []).append(value)
        self.body = b""

    def form(self) -> dict[str, str]:
        """The Query protocol's parameters: the query string's, and a form-encoded body's."""
        form = {key: values[-1] for key, values in self.query.items()}
        if self.headers.get("content-type", "").split(";")[0].strip().lower() == FORM:
            form.update(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))
        return form

    def signing_service(self) -> str:
        """The service the request is meant for, before its signature is checked (to answer in its
        protocol): the credential scope's, else the one whose Query API has its Action, else EKS."""
        credential = self.query.get("X-Amz-Credential", [""])[-1]
        if not credential:
            credential = self.headers.get("authorization", "").partition("Credential=")[2].partition(",")[0]
        scope = credential.split("/")
        if len(scope) == 5 and scope[3] in PROTOCOLS:
            return scope[3]
        action = self.form().get("Action")
        return next((name for name, protocol in PROTOCOLS.items()
                     if protocol == "query" and action in service_model(name).operation_names), "eks")


class EksApp:
    def __init__(self, eks: Eks) -> None:
        self.eks = eks
        self.operations = load_all()

    async def __call__(self, scope: dict, receive, send) -> None:
        if scope["type"] != "http":
            return
        call, request_id = Call(scope), str(uuid.uuid4())
        try:
            call.body = await _read_body(receive, call.headers)
            webhook = WEBHOOK.fullmatch(call.raw_path) if call.method == "POST" else None
            if webhook:
                response = await self.webhook(unquote(webhook.group(1)), call)
            else:
                response = await self.dispatch(call, request_id)
        except AwsError as e:
            response = _error(call.signing_service(), e, request_id)
        except Exception:
            log.exception("%s %s failed", call.method, call.raw_path)
            response = _error(call.signing_service(), internal_failure(), request_id)
        response.headers["x-amzn-requestid"] = request_id
        await _send(send, response)

    async def dispatch(self, call: Call, request_id: str) -> Response:
        iam = self.eks.iam
        if "X-Amz-Signature" in call.query:
            principal, service, region = sigv4.verify_presigned(iam, call.method, call.url, call.headers)
        else:
            principal, service, region = sigv4.verify_request(iam, call.method, call.url, call.headers,
                                                              call.body)
        if service not in PROTOCOLS:
            expected = call.signing_service()
            raise sigv4.mismatch(f"Credential should be scoped to correct service: '{expected}'.")
        model = service_model(service)
        if PROTOCOLS[service] == "rest-json":
            operation, labels = restjson.route(model, call.method, call.raw_path, call.query)
            params = restjson.parse(operation, labels, call.query, call.headers, call.body)
        else:
            form = call.form()
            operation = query.operation(model, form)
            params = query.parse(operation, form)
        handler = self.operations.get((service, operation.name))
        if handler is None:
            raise not_implemented(operation.name)
        authorize(self.eks, principal, service, operation.name, params)
        result = await handler(self.eks, Request(principal, region, params))
        if PROTOCOLS[service] == "rest-json":
            return restjson.serialize(operation, result)
        return query.serialize(model, operation, result, request_id)

    async def webhook(self, cluster: str, call: Call) -> Response:
        """A cluster's API server asks who an EKS token (a presigned STS URL) belongs to: a TokenReview."""
        from timoneiro.eks.webhook import token_review

        status, review = await token_review(self.eks, cluster, call.headers, call.body)
        return Response(status, orjson.dumps(review), {"content-type": "application/json"})


def _error(service: str, err: AwsError, request_id: str) -> Response:
    model = service_model(service)
    if PROTOCOLS[service] == "rest-json":
        return restjson.error(model, err)
    return query.error(model, err, request_id)


async def _read_body(receive, headers: dict[str, str]) -> bytes:
    length = headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY:
        raise too_large(MAX_BODY)
    body = bytearray()
    while True:
        message = await receive()
        body += message.get("body", b"")
        if len(body) > MAX_BODY:
            raise too_large(MAX_BODY)
        if message["type"] == "http.disconnect" or not message.get("more_body"):
            return bytes(body)


async def _send(send, response: Response) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
