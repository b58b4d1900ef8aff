"""Which images pull by default: the tag test SetDefaults_Container makes for imagePullPolicy.

Upstream parses the image as a docker reference (parsers.ParseImageName): a reference with no tag
and no digest means ":latest"; one that fails to parse has no tag at all, so it is IfNotPresent.
"""

from __future__ import annotations

import re

_ALNUM = r"[a-z0-9]+"
_COMPONENT = rf"{_ALNUM}(?:(?:[._]|__|-+){_ALNUM})*"
_HOST_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_HOST_PART}(?:\.{_HOST_PART})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"(?P<name>(?:{_HOST}/)?{_COMPONENT}(?:/{_COMPONENT})*)(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?"
)
_IDENTIFIER = re.compile(r"[a-f0-9]{64}")


def pull_policy(image: str) -> str:
    """Always for ":latest" (written or implied), IfNotPresent otherwise."""
    return "Always" if _tag(image) == "latest" else "IfNotPresent"


def _tag(image: str) -> str:
    if _IDENTIFIER.fullmatch(image):
        return ""
    first, slash, rest = image.partition("/")
    is_domain = slash and (any(c in first for c in ".:") or first == "localhost" or first.lower() != first)
    repository = (rest if is_domain else image).split(":", 1)[0]
    if repository.lower() != repository:
        return ""
    m = _REFERENCE.fullmatch(image)
    if not m or len(m.group("name")) > 255:
        return ""
    if m.group("tag"):
        return m.group("tag")
    return "" if m.group("digest") else "latest"
