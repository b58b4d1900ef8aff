"""Checks before a local cluster starts, as kubeadm's preflight phase makes them: what would make it fail
half-started is refused up front with the reason, so that where containerd cannot run a user is told so
(and that the simulated runtime, the default, needs none of it) instead of seeing a process die."""

from __future__ import annotations

import os
import shutil

from timoneiro.cluster.names import CONTAINERD
from timoneiro.cluster.topology import Topology

MAX_NODES = 256  # each node, simulated ones too, gets a /24 of the cluster's /16 pod network
# what a containerd node runs: containerd and runc, the reference CNI plugins its pod network uses, and the
# cluster's registry and the tool that pushes the locally built images to it (Debian's packages, which
# scripts/setup.sh installs)
CONTAINERD_PROGRAMS = ("containerd", "runc", "docker-registry", "skopeo")
CNI_PLUGINS = ("bridge", "host-local", "loopback", "portmap")


def refusal(topology: Topology) -> str | None:
    """Why a cluster of this topology cannot start here, if it cannot."""
    if topology.nodes + topology.simulated_nodes > MAX_NODES:
        return f"at most {MAX_NODES} nodes, simulated ones included (each gets a /24 of the pod network)"
    if topology.runtime == CONTAINERD and (problems := containerd_problems()):
        return (f"--runtime containerd cannot run here: {'; '.join(problems)}. Install what is missing "
                "(bash scripts/setup.sh) and run as root, or use --runtime simulated (the default: no "
                "processes, needs neither)")
    return None


def containerd_problems() -> list[str]:
    """What keeps a node from running containerd on this machine, in kubeadm's words."""
    # here, not at the top: it loads the kubelet's modules, which only a containerd cluster needs
    from timoneiro.kubelet.cri.containerd_config import CNI_BIN_DIR

    problems = [] if os.geteuid() == 0 else ["user is not running as root"]
    problems += [f"{program} not found in system path" for program in CONTAINERD_PROGRAMS
                 if shutil.which(program) is None]
    problems += [f"the CNI plugin {plugin} not found in {CNI_BIN_DIR}" for plugin in CNI_PLUGINS
                 if not os.access(os.path.join(CNI_BIN_DIR, plugin), os.X_OK)]
    return problems
