"""Which checks a level runs at a version of the standard (k8s.io/pod-security-admission/policy registry):
each check has forms from a minimum version on; restricted runs the baseline checks too, except those a
restricted check in force replaces; versions past the newest check's, and latest, run the newest forms.
Checks run baseline first, then restricted, each group ordered by check ID."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from timoneiro.apiserver.admission.podsecurity import baseline as b
from timoneiro.apiserver.admission.podsecurity import restricted as r
from timoneiro.apiserver.admission.podsecurity.levels import BASELINE, PRIVILEGED, RESTRICTED, LevelVersion
from timoneiro.apiserver.admission.podsecurity.messages import Violation
from timoneiro.apiserver.admission.podsecurity.restricted import CheckFn, not_on_windows


@dataclass(frozen=True)
class Check:
    id: str
    level: str
    versions: tuple[tuple[int, CheckFn], ...]  # (minimum minor version of v1, the check from then on)
    overrides: tuple[str, ...] = ()  # baseline checks this one replaces at restricted, where it applies


CHECKS = (
    Check("appArmorProfile", BASELINE, ((0, b.app_armor_profile),)),
    Check("capabilities_baseline", BASELINE, ((0, b.capabilities_baseline),)),
    Check("hostNamespaces", BASELINE, ((0, b.host_namespaces),)),
    Check("hostPathVolumes", BASELINE, ((0, b.host_path_volumes),)),
    Check("hostPorts", BASELINE, ((0, b.host_ports),)),
    Check("privileged", BASELINE, ((0, b.privileged),)),
    Check("procMount", BASELINE, ((0, b.proc_mount),)),
    Check("seLinuxOptions", BASELINE, ((0, b.se_linux_options_1_0), (31, b.se_linux_options_1_31))),
    Check("seccompProfile_baseline", BASELINE, ((0, b.seccomp_profile_baseline_1_0),
                                                (19, b.seccomp_profile_baseline_1_19))),
    Check("sysctls", BASELINE, ((0, b.sysctls_1_0), (27, b.sysctls_1_27), (29, b.sysctls_1_29), (32, b.sysctls_1_32))),
    Check("windowsHostProcess", BASELINE, ((0, b.windows_host_process),)),
    Check("allowPrivilegeEscalation", RESTRICTED, ((8, r.allow_privilege_escalation),
                                                     (25, not_on_windows(r.allow_privilege_escalation)))),
    Check("capabilities_restricted", RESTRICTED, ((22, r.capabilities_restricted),
                                                    (25, not_on_windows(r.capabilities_restricted))),
          overrides=("capabilities_baseline",)),
    Check("restrictedVolumes", RESTRICTED, ((0, r.restricted_volumes),), overrides=("hostPathVolumes",)),
    Check("runAsNonRoot", RESTRICTED, ((0, r.run_as_non_root),)),
    Check("runAsUser", RESTRICTED, ((23, r.run_as_user),)),
    Check("seccompProfile_restricted", RESTRICTED, ((19, r.seccomp_profile_restricted),
                                                      (25, not_on_windows(r.seccomp_profile_restricted))),
          overrides=("seccompProfile_baseline",)),
)
NEWEST = max(check.versions[-1][0] for check in CHECKS)
# baseline first, then restricted, each by ID (upstream's order, so messages list violations alike)
ORDERED = sorted(CHECKS, key=lambda c: (c.level != BASELINE, c.id))


def _form(check: Check, minor: int) -> CheckFn | None:
    """The check's form at v1.<minor>, None before its first."""
    found = None
    for since, fn in check.versions:
        if since <= minor:
            found = fn
    return found


@cache
def checks_for(level: str, minor: int) -> tuple[CheckFn, ...]:
    in_force = {c.id: fn for c in ORDERED if (fn := _form(c, minor)) is not None
                and (c.level == BASELINE or level != BASELINE)}
    replaced = {o for c in ORDERED if c.id in in_force and c.level != BASELINE for o in c.overrides}
    return tuple(fn for check_id, fn in in_force.items() if check_id not in replaced)


def evaluate(lv: LevelVersion, meta: dict, spec: dict) -> list[Violation]:
    """What the pod (metadata and spec, of a pod or a template) does that the level forbids."""
    if lv.level == PRIVILEGED:
        return []
    minor = NEWEST if lv.minor is None or lv.minor > NEWEST else lv.minor
    return [v for check in checks_for(lv.level, minor) if (v := check(meta, spec)) is not None]
