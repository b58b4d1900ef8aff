"""Pod Security Standards levels and versions, and the policy a namespace's labels ask for
(k8s.io/pod-security-admission/api): `pod-security.kubernetes.io/<mode>` names a level,
`pod-security.kubernetes.io/<mode>-version` the version of the standard (`latest` or `v1.X`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from timoneiro.api.field import FieldError, invalid

PRIVILEGED, BASELINE, RESTRICTED = "privileged", "baseline", "restricted"
LEVELS = (PRIVILEGED, BASELINE, RESTRICTED)  # in order of strictness
LABEL_PREFIX = "pod-security.kubernetes.io/"
MODES = ("enforce", "audit", "warn")
_VERSION = re.compile(r"^v1\.([0-9]|[1-9][0-9]*)$")


@dataclass(frozen=True)
class LevelVersion:
    """A level at a version of the standard: `minor` of v1.<minor>, None for latest."""

    level: str = PRIVILEGED
    minor: int | None = None

    def __str__(self) -> str:
        return f"{self.level}:{'latest' if self.minor is None else f'v1.{self.minor}'}"

    def equivalent(self, other: LevelVersion) -> bool:
        return (self.level == PRIVILEGED and other.level == PRIVILEGED) or self == other


@dataclass(frozen=True)
class Policy:
    enforce: LevelVersion = LevelVersion()
    audit: LevelVersion = LevelVersion()
    warn: LevelVersion = LevelVersion()

    def fully_privileged(self) -> bool:
        return self.enforce.level == self.audit.level == self.warn.level == PRIVILEGED

    def equivalent(self, other: Policy) -> bool:
        return all(getattr(self, m).equivalent(getattr(other, m)) for m in MODES)


def stricter(a: str, b: str) -> int:
    """>0 if level a is stricter than b, 0 if the same, <0 if laxer."""
    return LEVELS.index(a) - LEVELS.index(b)


def parse_version(value: str) -> int | None:
    """The minor version of `v1.X`; None for latest. ValueError for anything else."""
    if value == "latest":
        return None
    match = _VERSION.match(value)
    if not match:
        raise ValueError('must be "latest" or "v1.x"')
    return int(match.group(1))


def policy_from_labels(labels: dict[str, str], defaults: Policy = Policy()) -> tuple[Policy, list[FieldError]]:
    """The policy a namespace's labels set over the defaults, and the labels' errors. A bad enforce level
    fails closed (restricted), bad audit and warn levels fail open (privileged), a bad version is latest;
    warn follows enforce when only enforce is labelled and is stricter."""
    modes = {m: getattr(defaults, m) for m in MODES}
    errors: list[FieldError] = []
    for mode in MODES:
        label = LABEL_PREFIX + mode
        if label in labels:
            level = labels[label]
            if level not in LEVELS:
                errors.append(invalid(f"metadata.labels[{label}]", level, "must be one of " + ", ".join(LEVELS)))
                level = RESTRICTED if mode == "enforce" else PRIVILEGED
            modes[mode] = replace(modes[mode], level=level)
        if label + "-version" in labels:
            value = labels[label + "-version"]
            try:
                minor = parse_version(value)
            except ValueError as e:
                errors.append(invalid(f"metadata.labels[{label}-version]", value, str(e)))
                minor = None
            modes[mode] = replace(modes[mode], minor=minor)
    enforce_ok = LABEL_PREFIX + "enforce" in labels and labels[LABEL_PREFIX + "enforce"] in LEVELS
    if LABEL_PREFIX + "warn" not in labels and enforce_ok and stricter(modes["enforce"].level, modes["warn"].level) > 0:
        minor = modes["enforce"].minor if LABEL_PREFIX + "warn-version" not in labels else modes["warn"].minor
        modes["warn"] = LevelVersion(modes["enforce"].level, minor)
    return Policy(**modes), errors
