"""The string formats CRD schemas may use in Kubernetes 1.32, checked as kube-openapi's strfmt checks them.

Any other format is ignored, as kube-apiserver strips unsupported formats before validating.
"""

from __future__ import annotations

import calendar
import ipaddress
import re
from collections.abc import Callable

_UUID = r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?%s[0-9a-f]{3}-?%s[0-9a-f]{3}-?[0-9a-f]{12}$"
_ANY, _VARIANT = "[0-9a-f]", "[89ab]"
_UUID_ANY, _UUID3, _UUID4, _UUID5 = (
    re.compile(_UUID % parts) for parts in ((_ANY, _ANY), ("3", _ANY), ("4", _VARIANT), ("5", _VARIANT))
)
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(.*)$")
_ISBN_SEPARATORS = re.compile(r"[\s-]")
_ISBN10 = re.compile(r"[0-9]{9}X|[0-9]{10}")
_ISBN13 = re.compile(r"[0-9]{13}")
_NON_DIGITS = re.compile(r"[^0-9]")
_BSON_OBJECT_ID = re.compile(r"[0-9a-fA-F]{24}")
_SSN = re.compile(r"^\d{3}[- ]?\d{2}[- ]?\d{4}$")
_HEX_COLOR = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_HOSTNAME = re.compile(r"^([^\W_]((-?[^\W_]{0,62})?)|([^\W_](([^\W_-]|-){0,61}[^\W_])?(\.)){1,}([^\W\d_]){2,63})$")
_DATE_TIME = re.compile(r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$")
_GO_DURATION = re.compile(r"^[-+]?((\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$")
_DURATION_PART = re.compile(r"((\d+)\s*([A-Za-zµ]+))")
_DURATION_UNITS = (("ns", "nano"), ("us", "µs", "micro"), ("ms", "milli"), ("s", "sec"), ("m", "min"),
                   ("h", "hr", "hour"), ("d", "day"), ("w", "wk", "week"))
_MAC = re.compile(r"^([0-9a-fA-F]{2}([:-]))(?:[0-9a-fA-F]{2}\2){4}[0-9a-fA-F]{2}$|"
                  r"^([0-9a-fA-F]{2}([:-]))(?:[0-9a-fA-F]{2}\4){6}[0-9a-fA-F]{2}$|"
                  r"^([0-9a-fA-F]{2}([:-]))(?:[0-9a-fA-F]{2}\6){18}[0-9a-fA-F]{2}$|"
                  r"^[0-9a-fA-F]{4}(\.[0-9a-fA-F]{4}){2,3}$|^[0-9a-fA-F]{4}(\.[0-9a-fA-F]{4}){9}$")
_EMAIL = re.compile(r"^(?:[^<>@\s]+\s*<)?[^<>@\s,;]+@[^<>@\s,;]+>?$")
_BASE64 = re.compile(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$")
_CREDIT_CARD = re.compile(r"^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|"
                          r"3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35\d{3})\d{11})$")
_RGB_PART = r"\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*"
_RGB = re.compile(rf"^rgb\({_RGB_PART},{_RGB_PART},{_RGB_PART}\)$")


def _ip(s: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Go's ParseIPSloppy: IPv4 parts may carry leading zeros."""
    if "." in s and ":" not in s:
        parts = s.split(".")
        if len(parts) != 4 or not all(p.isdigit() and p.isascii() for p in parts):
            return None
        s = ".".join(str(int(p)) for p in parts)
    try:
        return ipaddress.ip_address(s)
    except ValueError:
        return None


def _cidr(s: str) -> bool:
    ip, _, prefix = s.partition("/")
    parsed = _ip(ip)
    if parsed is None or not prefix.isdigit():
        return False
    return int(prefix) <= (32 if parsed.version == 4 and ":" not in ip else 128)


def _date(s: str) -> bool:
    m = _DATE.fullmatch(s)
    if not m:
        return False
    year, month, day = (int(x) for x in m.groups())
    return 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]


def _date_time(s: str) -> bool:
    parts = s.lower().split("t")
    if len(s) < 4 or len(parts) < 2 or not _date(parts[0]):
        return False
    m = _DATE_TIME.match(parts[1])
    return bool(m) and m.group(1) <= "23" and m.group(2) <= "59" and m.group(3) <= "59"


def _duration(s: str) -> bool:
    if s == "0" or _GO_DURATION.match(s):
        return True
    for _, _, unit in _DURATION_PART.findall(s):
        unit = unit.strip().lower()
        for variants in _DURATION_UNITS:
            if unit.startswith(variants[-1]) or any(v.lower() == unit for v in variants):
                return True
    return False


def _uri(s: str) -> bool:
    """Go's url.ParseRequestURI: an absolute URI or an absolute path."""
    if not s or any(ord(c) < 0x20 or c == "\x7f" for c in s):
        return False
    m = _URI_SCHEME.match(s)
    if m:
        rest = m.group(1)
        return not rest.startswith("//") or " " not in rest[2:].split("/", 1)[0]
    return s.startswith("/")


def _isbn(s: str, length: int) -> bool:
    s = _ISBN_SEPARATORS.sub("", s)
    if length == 10:
        if not _ISBN10.fullmatch(s):
            return False
        total = sum((i + 1) * int(c) for i, c in enumerate(s[:9])) + 10 * (10 if s[9] == "X" else int(s[9]))
        return total % 11 == 0
    if not _ISBN13.fullmatch(s):
        return False
    total = sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(s[:12]))
    return (10 - total % 10) % 10 == int(s[12])


def _credit_card(s: str) -> bool:
    digits = _NON_DIGITS.sub("", s)
    if not _CREDIT_CARD.match(digits):
        return False
    total = 0
    for i, c in enumerate(reversed(digits)):
        n = int(c) * (2 if i % 2 else 1)
        total += n - 9 if n >= 10 else n
    return total % 10 == 0


def _ipv4(s: str) -> bool:
    return _ip(s) is not None and "." in s


def _ipv6(s: str) -> bool:
    return _ip(s) is not None and ":" in s


FORMATS: dict[str, Callable[[str], bool]] = {
    "bsonobjectid": lambda s: _BSON_OBJECT_ID.fullmatch(s) is not None,
    "uri": _uri,
    "email": lambda s: _EMAIL.match(s) is not None,
    "hostname": lambda s: _HOSTNAME.match(s) is not None and len(s) <= 255 and all(len(p) <= 63 for p in s.split(".")),
    "ipv4": _ipv4,
    "ipv6": _ipv6,
    "cidr": _cidr,
    "mac": lambda s: _MAC.match(s) is not None,
    "uuid": lambda s: _UUID_ANY.match(s) is not None,
    "uuid3": lambda s: _UUID3.match(s) is not None,
    "uuid4": lambda s: _UUID4.match(s) is not None,
    "uuid5": lambda s: _UUID5.match(s) is not None,
    "isbn": lambda s: _isbn(s, 10) or _isbn(s, 13),
    "isbn10": lambda s: _isbn(s, 10),
    "isbn13": lambda s: _isbn(s, 13),
    "creditcard": _credit_card,
    "ssn": lambda s: len(s) == 11 and _SSN.match(s) is not None,
    "hexcolor": lambda s: _HEX_COLOR.match(s) is not None,
    "rgbcolor": lambda s: _RGB.match(s) is not None,
    "byte": lambda s: _BASE64.match(s) is not None,
    "password": lambda s: True,
    "date": _date,
    "datetime": _date_time,
    "duration": _duration,
}


def effective(schema: dict) -> str:
    """The format kube-apiserver keeps for validation: unsupported ones (and int-or-string's) become ""."""
    fmt = schema.get("format") or ""
    types = schema.get("type")
    kind = types if isinstance(types, str) and not schema.get("x-kubernetes-int-or-string") else ""
    if kind in ("", "string"):
        return fmt if fmt.replace("-", "") in FORMATS else ""
    if kind == "integer":
        return fmt if fmt in ("int32", "int64") else ""
    if kind == "number":
        return fmt if fmt in ("float", "double") else ""
    return ""


def valid(fmt: str, value: str) -> bool:
    return FORMATS[fmt.replace("-", "")](value)
