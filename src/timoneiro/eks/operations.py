"""The registry of operations the service answers, by (signing service, operation name as in botocore's
model): each module under eks/ops registers its handlers here with @operation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from timoneiro.eks.iam import Principal
    from timoneiro.eks.service import Eks


@dataclass(frozen=True)
class Request:
    """One call: who made it (from its SigV4 signature), in which region, with the input shape's members
    (botocore's names, e.g. params["name"], params["scalingConfig"]["desiredSize"])."""

    principal: Principal
    region: str
    params: dict


Handler = Callable[["Eks", Request], Awaitable[dict]]
OPERATIONS: dict[tuple[str, str], Handler] = {}


def operation(name: str, service: str = "eks") -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        OPERATIONS[(service, name)] = handler
        return handler
    return register


def load_all() -> dict[tuple[str, str], Handler]:
    """Import every module of eks/ops, so that its handlers register."""
    import importlib
    import pkgutil

    from timoneiro.eks import ops

    for module in pkgutil.iter_modules(ops.__path__):
        importlib.import_module(f"{ops.__name__}.{module.name}")
    return OPERATIONS
