"""Which stored values are encrypted and how: the store's hook into encryption at rest.

A store key starts with its kind's storage resource (`/core/secrets/NS/NAME`, `/apps/deployments/...`,
`/example.com/widgets/...`: see Kind.storage_resource), so the group and resource a rule names are read
off the key; events.k8s.io Events live under core/events, and upstream too configures them as `events`.
A resource takes the providers of its own rules, else of `*.GROUP`, else of `*.*`; the values of any
other resource are written as they are, and reading one that is encrypted fails, as upstream's
encrypt-check identity does. Keys no rule covers cost one startswith on write.
"""

from __future__ import annotations

from timoneiro.storage.encryption.providers import Identity, PrefixChoice
from timoneiro.storage.interface import Undecodable, Unreadable

ANY = "*"
_UNCONFIGURED = Identity()


def key_prefix(group: str, resource: str) -> str:
    """The store keys a rule covers: `*.*` all, `*.apps` the group's, `*.` the core group's."""
    if group == ANY:
        return "/"
    top = f"/{group or 'core'}/"
    return top if resource == ANY else f"{top}{resource}/"


class Transformers:
    """Per store key, the providers to write and read its values with."""

    def __init__(self, rules: dict[tuple[str, str], PrefixChoice]) -> None:
        self._rules = rules  # (group, resource), either may be "*"; "" is the core group
        self._prefixes = tuple(key_prefix(g, r) for g, r in rules)
        self._chains: dict[str, PrefixChoice] = {}  # "/group/resource/" -> its providers

    def _chain(self, key: str) -> PrefixChoice | None:
        if not key.startswith(self._prefixes):
            return None
        resource = key[: key.index("/", key.index("/", 1) + 1) + 1]
        chain = self._chains.get(resource)
        if chain is None:
            top, plural = resource[1:-1].split("/")
            group = "" if top == "core" else top
            rules = self._rules
            chain = rules.get((group, plural)) or rules.get((group, ANY)) or rules[(ANY, ANY)]
            self._chains[resource] = chain
        return chain

    def to_storage(self, key: str, value: bytes) -> bytes:
        chain = self._chain(key)
        return value if chain is None else chain.to_storage(value, key.encode())

    def from_storage(self, key: str, value: bytes) -> tuple[bytes, bool]:
        """The value as written and whether it is stale; an Unreadable if no provider reads it."""
        chain = self._chain(key)
        try:
            if chain is None:
                return _UNCONFIGURED.from_storage(value, b"")
            return chain.from_storage(value, key.encode())
        except ValueError as e:
            return Unreadable(Undecodable(str(e))), False
