"""The string formats Kubernetes checks (DNS names, label keys, ports, IPs), with upstream's wording.

Each is_* check returns the list of reasons a value fails, empty when it is valid, so callers can
turn every reason into its own field error as apimachinery's util/validation does.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + r"(\." + DNS1123_LABEL_FMT + ")*"
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
WILDCARD_SUBDOMAIN_FMT = r"\*\." + DNS1123_SUBDOMAIN_FMT
QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE_FMT = "(" + QUALIFIED_NAME_FMT + ")?"
CONFIG_MAP_KEY_FMT = "[-._a-zA-Z0-9]+"
PERCENT_FMT = "[0-9]+%"
HTTP_HEADER_NAME_FMT = "[-A-Za-z0-9]+"
HTTP_PATH_FMT = r"[A-Za-z0-9/\-._~%!$&'()*+,;=:]+"

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
QUALIFIED_NAME_MAX = 63
LABEL_VALUE_MAX = 63

_DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character"
)
_DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
    "start with an alphabetic character, and end with an alphanumeric character"
)
_WILDCARD_MSG = (
    "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, "
    "which must consist of lower case alphanumeric characters, '-' or '.' and end with an "
    "alphanumeric character"
)
_QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
    "or '.', and must start and end with an alphanumeric character"
)
_CONFIG_MAP_KEY_MSG = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"


def _full(fmt: str) -> re.Pattern[str]:
    return re.compile("^(?:" + fmt + ")$")


_DNS1123_LABEL = _full(DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN = _full(DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL = _full(DNS1035_LABEL_FMT)
_WILDCARD_SUBDOMAIN = _full(WILDCARD_SUBDOMAIN_FMT)
_QUALIFIED_NAME = _full(QUALIFIED_NAME_FMT)
_LABEL_VALUE = _full(LABEL_VALUE_FMT)
_CONFIG_MAP_KEY = _full(CONFIG_MAP_KEY_FMT)
_PERCENT = _full(PERCENT_FMT)
_HTTP_HEADER_NAME = _full(HTTP_HEADER_NAME_FMT)
_HTTP_PATH = _full(HTTP_PATH_FMT)
_PORT_NAME_CHARS = _full("[-a-z0-9]+")
_LOWER_LETTER = re.compile("[a-z]")
_SIGNED_INT = re.compile(r"[+-]?\d+")


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """Upstream's RegexError: the rule, some examples and the regex itself.

    Each example is followed by ", " and the next one preceded by " or ", so two examples read
    "(e.g. 'my-name',  or '123-abc', regex ...": that is what kube-apiserver prints.
    """
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def inclusive_range_error(lo: int, hi: int) -> str:
    return f"must be between {lo} and {hi}, inclusive"


_DNS1123_LABEL_ERROR = regex_error(_DNS1123_LABEL_MSG, DNS1123_LABEL_FMT, "my-name", "123-abc")
_DNS1123_SUBDOMAIN_ERROR = regex_error(_DNS1123_SUBDOMAIN_MSG, DNS1123_SUBDOMAIN_FMT, "example.com")
_DNS1035_LABEL_ERROR = regex_error(_DNS1035_LABEL_MSG, DNS1035_LABEL_FMT, "my-name", "abc-123")
_WILDCARD_ERROR = regex_error(_WILDCARD_MSG, WILDCARD_SUBDOMAIN_FMT, "*.example.com")
_QUALIFIED_NAME_ERROR = regex_error(_QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
_LABEL_VALUE_ERROR = regex_error(_LABEL_VALUE_MSG, LABEL_VALUE_FMT, "MyValue", "my_value", "12345")
_CONFIG_MAP_KEY_ERROR = regex_error(_CONFIG_MAP_KEY_MSG, CONFIG_MAP_KEY_FMT, "key.name", "KEY_NAME", "key-name")


def _matches(pattern: re.Pattern[str], value: str) -> bool:
    # Go's $ does not match before a trailing newline, so neither may ours
    return "\n" not in value and pattern.match(value) is not None


def _bounded_format(value: str, max_len: int, pattern: re.Pattern[str], mismatch: str) -> list[str]:
    """The usual pair of checks: not longer than max_len, and matching the pattern (else `mismatch`)."""
    errs = [max_len_error(max_len)] if len(value) > max_len else []
    if not _matches(pattern, value):
        errs.append(mismatch)
    return errs


def is_dns1123_label(value: str) -> list[str]:
    errs = [max_len_error(DNS1123_LABEL_MAX)] if len(value) > DNS1123_LABEL_MAX else []
    if not _matches(_DNS1123_LABEL, value):
        errs.append("must not contain dots" if _matches(_DNS1123_SUBDOMAIN, value) else _DNS1123_LABEL_ERROR)
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    return _bounded_format(value, DNS1123_SUBDOMAIN_MAX, _DNS1123_SUBDOMAIN, _DNS1123_SUBDOMAIN_ERROR)


def is_dns1035_label(value: str) -> list[str]:
    return _bounded_format(value, DNS1123_LABEL_MAX, _DNS1035_LABEL, _DNS1035_LABEL_ERROR)


def is_wildcard_dns1123_subdomain(value: str) -> list[str]:
    return _bounded_format(value, DNS1123_SUBDOMAIN_MAX, _WILDCARD_SUBDOMAIN, _WILDCARD_ERROR)


def is_qualified_name(value: str) -> list[str]:
    """A label key or other qualified name: an optional DNS-subdomain prefix, '/', and a name part."""
    parts = value.split("/")
    errs: list[str] = []
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + msg for msg in is_dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name "
            + _QUALIFIED_NAME_ERROR
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > QUALIFIED_NAME_MAX:
        errs.append("name part " + max_len_error(QUALIFIED_NAME_MAX))
    if not _matches(_QUALIFIED_NAME, name):
        errs.append("name part " + _QUALIFIED_NAME_ERROR)
    return errs


def is_label_value(value: str) -> list[str]:
    return _bounded_format(value, LABEL_VALUE_MAX, _LABEL_VALUE, _LABEL_VALUE_ERROR)


def _chdir_prefix(value: str) -> list[str]:
    if value == ".":
        return ["must not be '.'"]
    if value == "..":
        return ["must not be '..'"]
    if value.startswith(".."):
        return ["must not start with '..'"]
    return []


def is_config_map_key(value: str) -> list[str]:
    errs = _bounded_format(value, DNS1123_SUBDOMAIN_MAX, _CONFIG_MAP_KEY, _CONFIG_MAP_KEY_ERROR)
    return errs + _chdir_prefix(value)


def is_valid_port_num(port: int) -> list[str]:
    return [] if 1 <= port <= 65535 else [inclusive_range_error(1, 65535)]


def is_valid_port_name(port: str) -> list[str]:
    errs = []
    if len(port) > 15:
        errs.append(max_len_error(15))
    if not _matches(_PORT_NAME_CHARS, port):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _LOWER_LETTER.search(port):
        errs.append("must contain at least one letter (a-z)")
    if "--" in port:
        errs.append("must not contain consecutive hyphens")
    if port and (port[0] == "-" or port[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def is_signed_int(text: str) -> bool:
    """Whether text is an optionally signed run of decimal digits (the shape strconv.Atoi reads)."""
    return _SIGNED_INT.fullmatch(text) is not None


def is_valid_percent(value: str) -> list[str]:
    if _matches(_PERCENT, value):
        return []
    return [
        regex_error(
            "a valid percent string must be a numeric string followed by an ending '%'",
            PERCENT_FMT,
            "1%",
            "93%",
        )
    ]


def is_http_header_name(value: str) -> list[str]:
    if _matches(_HTTP_HEADER_NAME, value):
        return []
    return [
        regex_error(
            "a valid HTTP header must consist of alphanumeric characters or '-'",
            HTTP_HEADER_NAME_FMT,
            "X-Header-Name",
        )
    ]


def is_http_path(value: str) -> bool:
    """Characters RFC 3986 allows in an HTTP path."""
    return _matches(_HTTP_PATH, value)


def is_valid_user_id(uid: int) -> list[str]:
    return [] if 0 <= uid <= 0xFFFFFFFF else [inclusive_range_error(0, 0xFFFFFFFF)]


def is_valid_path_segment_name(name: str) -> list[str]:
    """Names that become one segment of a REST path or a storage key."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return _path_segment_prefix(name)


def _path_segment_prefix(name: str) -> list[str]:
    """IsValidPathSegmentPrefix: the characters no part of a path segment may hold."""
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


def parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """netutils.ParseIPSloppy: IPv4 parts may carry leading zeros (read as decimal)."""
    if not value or "%" in value:
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        pass
    parts = value.split(".")
    if len(parts) == 4 and all(p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts):
        return ipaddress.IPv4Address(".".join(str(int(p)) for p in parts))
    return None


def parse_cidr(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """netutils.ParseCIDRSloppy: an address (host bits allowed) and a prefix length."""
    addr, sep, bits = value.partition("/")
    ip = parse_ip(addr)
    if not sep or ip is None or not bits.isdigit() or len(bits) > 3 or int(bits) > ip.max_prefixlen:
        return None
    return ipaddress.ip_network(f"{ip}/{int(bits)}", strict=False)


IP_ERROR = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
CIDR_ERROR = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"


# ValidateNameFunc: (name, prefix) -> reasons; prefix means generateName, where a trailing '-' is fine
NameFunc = Callable[[str, bool], list[str]]


def _mask_trailing_dash(name: str) -> str:
    return name[:-2] + "a" if name.endswith("-") else name


def name_is_dns_subdomain(name: str, prefix: bool) -> list[str]:
    return is_dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool) -> list[str]:
    return is_dns1123_label(_mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool) -> list[str]:
    return is_dns1035_label(_mask_trailing_dash(name) if prefix else name)


def name_is_path_segment(name: str, prefix: bool) -> list[str]:
    return _path_segment_prefix(name) if prefix else is_valid_path_segment_name(name)
