"""AWS errors as the service's protocol sends them: a code (the exception shape's name in botocore's
model), a message, an HTTP status, and the extra members some EKS exceptions carry (clusterName, ...)."""

from __future__ import annotations


class AwsError(Exception):
    def __init__(self, code: str, message: str, status: int = 400, **fields: str) -> None:
        super().__init__(message)
        self.code, self.message, self.status, self.fields = code, message, status, fields


def not_found(message: str, **fields: str) -> AwsError:
    return AwsError("ResourceNotFoundException", message, 404, **fields)


def in_use(message: str, **fields: str) -> AwsError:
    return AwsError("ResourceInUseException", message, 409, **fields)


def invalid_parameter(message: str, **fields: str) -> AwsError:
    return AwsError("InvalidParameterException", message, 400, **fields)


def invalid_request(message: str, **fields: str) -> AwsError:
    return AwsError("InvalidRequestException", message, 400, **fields)
