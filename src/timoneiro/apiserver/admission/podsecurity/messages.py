"""How the checks word what they forbid, as k8s.io/pod-security-admission/policy words it: each failed
check gives a reason ("privileged") and a detail ('container "c" must not set ...')."""

from __future__ import annotations

# a failed check: (reason, detail)
Violation = tuple[str, str]


def pluralize(singular: str, plural: str, count: int) -> str:
    return singular if count == 1 else plural


def join_quote(items: list[str]) -> str:
    return ", ".join(f'"{item}"' for item in items)


def containers_phrase(names: list[str]) -> str:
    """'container "a"' or 'containers "a", "b"'."""
    return f"{pluralize('container', 'containers', len(names))} {join_quote(names)}"


def setters_phrase(pod: bool, containers: list[str]) -> str:
    """Who set a forbidden value: 'pod', 'container "a"', or 'pod and containers "a", "b"'."""
    setters = ["pod"] if pod else []
    if containers:
        setters.append(containers_phrase(containers))
    return " and ".join(setters)


def details(violations: list[Violation]) -> str:
    """'reason (detail), reason (detail)': what an enforce refusal or a warning says."""
    return ", ".join(f"{reason} ({detail})" if detail else reason for reason, detail in violations)


def reasons(violations: list[Violation]) -> str:
    return ", ".join(reason for reason, _ in violations)
