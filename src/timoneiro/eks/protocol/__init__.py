"""The wire: botocore's own service models, read both ways. `restjson` speaks EKS's REST-JSON protocol,
`query` the Query protocol of Auto Scaling, STS and IAM; both parse a request into the operation's input members
and write a handler's dict, or an AwsError, as the real service would."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from botocore.model import ServiceModel

from timoneiro.eks.errors import AwsError

# the signing service (a credential scope's) -> the protocol that service speaks
PROTOCOLS = {"eks": "rest-json", "autoscaling": "query", "sts": "query", "iam": "query"}


@functools.cache
def service_model(name: str) -> ServiceModel:
    import botocore.session

    return botocore.session.get_session().get_service_model(name)


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class CommonError(AwsError):
    """An error every AWS service answers itself (signatures, unknown calls, sizes, failures), which the
    JSON and Query protocols name differently, e.g. InvalidSignatureException and SignatureDoesNotMatch."""

    def __init__(self, json_code: str, query_code: str, message: str, status: int) -> None:
        super().__init__(json_code, message, status)
        self.query_code = query_code


def internal_failure() -> CommonError:
    return CommonError("ServerException", "InternalFailure",
                       "The request processing has failed because of an unknown error, exception or failure.",
                       500)


def not_implemented(operation: str) -> CommonError:
    return CommonError("NotImplementedException", "NotImplemented",
                       f"The operation {operation} is not implemented by this service yet.", 501)


def too_large(limit: int) -> CommonError:
    return CommonError("RequestEntityTooLargeException", "RequestEntityTooLarge",
                       f"Request body exceeds the limit of {limit} bytes.", 413)
