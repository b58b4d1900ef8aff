"""Label and field selectors: parsing the query-string forms and LabelSelector objects, and matching."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass


class SelectorError(ValueError):
    pass


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # in, notin, exists, !, =, !=, gt, lt
    values: tuple[str, ...] = ()

    def matches(self, labels: dict) -> bool:
        op = self.op
        if op == "exists":
            return self.key in labels
        if op == "!":
            return self.key not in labels
        if op in ("=", "in"):
            return self.key in labels and labels[self.key] in self.values
        if op in ("!=", "notin"):
            return self.key not in labels or labels[self.key] not in self.values
        if self.key not in labels:
            return False
        try:
            have, want = int(labels[self.key]), int(self.values[0])
        except ValueError:
            return False
        return have > want if op == "gt" else have < want


Selector = tuple[Requirement, ...]

_TOKEN = re.compile(r"\s*(!=|==|=|!|\(|\)|,|>|<|[^\s!=,()<>]+)")


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise SelectorError(f"unable to parse requirement: {text[pos:]!r}")
        out.append(m.group(1))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def parse_labels(text: str) -> Selector:
    """Parse `app=web,tier!=db,env in (a,b),!legacy,gpu`."""
    toks = _tokens(text)
    reqs: list[Requirement] = []
    i = 0

    def need(cond: bool, what: str, comma: bool = True) -> None:
        if not cond:
            found = toks[i] if i < len(toks) else ""
            raise SelectorError(f"unable to parse requirement: found '{found}'{',' if comma else ''} "
                                f"expected: {what}")

    while i < len(toks):
        if toks[i] == "!":
            i += 1
            need(i < len(toks), "identifier after '!'")
            reqs.append(Requirement(toks[i], "!"))
            i += 1
        else:
            key = toks[i]
            need(key not in "(),=<>", "identifier")
            i += 1
            if i >= len(toks) or toks[i] == ",":
                reqs.append(Requirement(key, "exists"))
            elif toks[i] in ("=", "==", "!="):
                op = "!=" if toks[i] == "!=" else "="
                i += 1
                value = "" if i >= len(toks) or toks[i] == "," else toks[i]
                if value:
                    i += 1
                reqs.append(Requirement(key, op, (value,)))
            elif toks[i] in (">", "<"):
                op = "gt" if toks[i] == ">" else "lt"
                i += 1
                need(i < len(toks), "integer value")
                reqs.append(Requirement(key, op, (toks[i],)))
                i += 1
            elif toks[i] in ("in", "notin"):
                op = toks[i]
                i += 1
                need(i < len(toks) and toks[i] == "(", "'('", comma=False)
                i += 1
                values = []
                while i < len(toks) and toks[i] != ")":
                    if toks[i] != ",":
                        values.append(toks[i])
                    i += 1
                need(i < len(toks), "',' or ')'")
                i += 1
                reqs.append(Requirement(key, op, tuple(values)))
            else:
                need(False, "'=', '!=', 'in', 'notin'")
        if i < len(toks):
            need(toks[i] == ",", "','")
            i += 1
            if i == len(toks):
                raise SelectorError("found '', expected: identifier after ','")
    for r in reqs:
        _check_key(r.key)
    return tuple(reqs)


_KEY = re.compile(r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                  r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")


def _check_key(key: str) -> None:
    if not _KEY.fullmatch(key) or len(key.rpartition("/")[2]) > 63:
        raise SelectorError(f"unable to parse requirement: invalid label key \"{key}\": name part must consist "
                            "of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                            "alphanumeric character")


_OPS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}


def from_label_selector(sel: dict | None) -> Selector | None:
    """A metav1.LabelSelector object as requirements; None matches nothing, {} matches everything."""
    if sel is None:
        return None
    reqs = [Requirement(k, "=", (v,)) for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for expr in sel.get("matchExpressions") or []:
        op = _OPS.get(expr.get("operator", ""))
        if op is None:
            raise SelectorError(f"{expr.get('operator')!r} is not a valid label selector operator")
        reqs.append(Requirement(expr["key"], op, tuple(expr.get("values") or ())))
    return tuple(reqs)


def matches(selector: Selector | None, labels: dict) -> bool:
    if selector is None:
        return False
    return all(r.matches(labels) for r in selector)


def to_string(selector: Selector) -> str:
    """The canonical text form, as status.selector of a scale subresource carries it."""
    parts = []
    for r in selector:
        if r.op == "=":
            parts.append(f"{r.key}={r.values[0]}")
        elif r.op == "!=":
            parts.append(f"{r.key}!={r.values[0]}")
        elif r.op == "exists":
            parts.append(r.key)
        elif r.op == "!":
            parts.append(f"!{r.key}")
        elif r.op in ("in", "notin"):
            parts.append(f"{r.key} {r.op} ({','.join(sorted(r.values))})")
        else:
            parts.append(f"{r.key}{'>' if r.op == 'gt' else '<'}{r.values[0]}")
    return ",".join(parts)


FieldSelector = tuple[tuple[str, str, str], ...]


def parse_fields(text: str, known: Callable[[str], bool]) -> FieldSelector:
    """Parse `metadata.name=x,status.phase!=Running`; only fields the kind supports are allowed."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = re.fullmatch(r"([^=!]+?)\s*(==|=|!=)\s*(.*)", part)
        if not m:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, value = m.group(1).strip(), m.group(2), m.group(3).strip()
        if not known(field):
            raise SelectorError(f"field label not supported: {field}")
        out.append((field, "!=" if op == "!=" else "=", value))
    return tuple(out)


def fields_match(selector: FieldSelector, values: dict) -> bool:
    for field, op, value in selector:
        have = values.get(field, "")
        if (have == value) != (op == "="):
            return False
    return True
