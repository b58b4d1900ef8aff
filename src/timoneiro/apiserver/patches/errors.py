"""The Status codes, reasons and messages kube-apiserver answers failed patches with."""

from __future__ import annotations

# What NewGenericServerResponse(422, ...) says: kube-apiserver drops the patch library's own text.
REJECTED = "the server rejected our request due to an error in our request"


class PatchError(Exception):
    """status: the HTTP code kube-apiserver answers (400, 422, 409 ...); reason: the Status reason
    ('BadRequest', 'Invalid', ...; '' where upstream answers 500 without one)."""

    def __init__(self, message: str, status: int = 422, reason: str = "Invalid") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason


def bad_request(message: str) -> PatchError:
    return PatchError(message, 400, "BadRequest")


def rejected() -> PatchError:
    """A patch that does not apply: upstream's generic 422, whatever the library said (chain the cause)."""
    return PatchError(REJECTED, 422, "Invalid")


def internal(message: str) -> PatchError:
    """A plain Go error that reaches the handler: 500 with the error text and no reason."""
    return PatchError(message, 500, "")


def too_large(message: str) -> PatchError:
    return PatchError(f"Request entity too large: {message}", 413, "RequestEntityTooLarge")


def unsupported_media_type(accepted: list[str]) -> PatchError:
    return PatchError("the body of the request was in an unknown format - accepted media types include: "
                      + ", ".join(accepted), 415, "UnsupportedMediaType")
