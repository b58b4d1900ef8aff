"""The iptables chains the CNI portmap plugin shares between all its pods on the host (hostPort), removed
once no pod uses them.

For each pod with host ports portmap makes a chain of its own (CNI-DN-...) and a rule jumping to it in
CNI-HOSTPORT-DNAT, and removes both when the pod's network is torn down; but it never removes its shared
chains (CNI-HOSTPORT-DNAT, -SETMARK, -MASQ) nor the rules that jump to them from PREROUTING, OUTPUT and
POSTROUTING. Once a cluster stopped its pods these are removed, if CNI-HOSTPORT-DNAT is empty: in one
iptables-restore transaction, which fails as a whole, changing nothing, if another cluster's pod still has
a rule in it (deleting a chain that holds rules fails).
"""

from __future__ import annotations

import logging
import shutil
import subprocess

log = logging.getLogger("timoneiro.kubelet.cri.portmap_chains")
DNAT, SETMARK, MASQ = "CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ"
SHARED = (DNAT, SETMARK, MASQ)


def removal_script(nat_rules: str) -> str | None:
    """The iptables-restore input that removes the shared chains, given the nat table as iptables-save
    prints it; None if there is nothing to remove or a pod still forwards a port."""
    lines = nat_rules.splitlines()
    declared = {line[1:].split()[0] for line in lines if line.startswith(":")}
    chains = [c for c in SHARED if c in declared]
    if not chains or any(line.startswith(f"-A {DNAT} ") for line in lines):
        return None
    jumps = [line for line in lines if line.startswith("-A ") and line.split()[1] not in SHARED
             and any(line.endswith(f"-j {c}") for c in SHARED)]
    script = ["*nat"]
    script += ["-D " + line[3:] for line in jumps]
    script += [f"-F {c}" for c in chains if c != DNAT]
    script += [f"-X {c}" for c in chains]
    return "\n".join([*script, "COMMIT", ""])


def remove_if_unused() -> None:
    """Remove portmap's shared chains if no pod on the host forwards a port any more."""
    if shutil.which("iptables-save") is None:
        return
    saved = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True, check=False)
    script = removal_script(saved.stdout) if saved.returncode == 0 else None
    if script is None:
        return
    done = subprocess.run(["iptables-restore", "--noflush"], input=script, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:  # another cluster's pod took a host port meanwhile: its chains stay
        log.info("portmap's chains stay: %s", done.stderr.strip())
