"""What a failed request raises: the API server's metav1.Status, or a transport failure."""

from __future__ import annotations

import orjson

# reasons for error answers that carry no Status body (a proxy's page, "404 page not found"), as client-go names them
_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
            406: "NotAcceptable", 409: "Conflict", 410: "Gone", 413: "RequestEntityTooLarge",
            415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
            503: "ServiceUnavailable", 504: "Timeout"}


class ApiError(Exception):
    """The server answered with an error; `status` is its metav1.Status so callers can branch on code/reason."""

    def __init__(self, status: dict) -> None:
        self.status = status
        self.code: int = int(status.get("code") or 0)
        self.reason: str = status.get("reason") or ""
        self.message: str = status.get("message") or ""
        super().__init__(f"{self.code} {self.reason}: {self.message}")

    @classmethod
    def from_response(cls, http_status: int, raw: bytes) -> ApiError:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        if isinstance(body, dict) and body.get("kind") == "Status":
            return cls({**body, "code": body.get("code") or http_status})
        return cls({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": http_status,
                    "reason": _REASONS.get(http_status, "Unknown"), "message": raw.decode(errors="replace").strip()})

    @property
    def details(self) -> dict:
        return self.status.get("details") or {}

    def has_cause(self, reason: str) -> bool:
        return any(c.get("reason") == reason for c in self.details.get("causes") or ())

    @property
    def resource_version_unavailable(self) -> bool:
        """410 Gone, or a resourceVersion the server has not reached: a watch must start again from a list."""
        return self.code == 410 or self.has_cause("ResourceVersionTooLarge")


class TransportError(ConnectionError):
    """The request did not get an answer: connection refused or reset, TLS failure, timeout."""
