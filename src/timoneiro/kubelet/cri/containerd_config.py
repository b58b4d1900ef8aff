"""The files a containerd of timoneiro's own starts from: config.toml, the CNI config template, and the
registry hosts. Pure text; containerd.py writes them and runs the daemon.

Settings that matter on our machines: runc through the v2 shim with cgroupfs (crun refuses the hybrid
cgroup layout), restrict_oom_score_adj (the VM lacks CAP_SYS_RESOURCE, so lowering a score fails), the
sandbox image built locally (nothing can be pulled from the internet), the streaming server on loopback.
CNI: containerd renders the template into conf_dir when the kubelet sends the node's pod CIDR
(UpdateRuntimeConfig), as it does for kubeadm nodes without a network add-on; or, for a node whose pod
range is its own (pod_cidr: an EKS node's, from its subnet as the VPC CNI takes them), the config is
written into conf_dir at once and there is no template, so the kubelet's pod CIDR does not matter.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

CNI_BIN_DIR = "/usr/lib/cni"  # Debian's containernetworking-plugins
NAMESPACE = "k8s.io"  # the containerd namespace the CRI plugin keeps everything in
CRI = '"io.containerd.grpc.v1.cri"'
SOCKET_PATH_MAX = 107 - len(".ttrpc")  # sun_path, less the ttrpc socket's suffix
SOCKET_DIR = Path("/run/timoneiro/containerd")  # the sockets of data dirs too deep for a unix socket path


@dataclass
class ContainerdLayout:
    """Where one containerd keeps everything: all under data_dir, so that two can run side by side."""

    data_dir: Path
    sandbox_image: str
    bridge: str  # the node's pod bridge; at most 15 characters
    registries: dict[str, str] = field(default_factory=dict)  # registry host -> endpoint URL to pull from
    pod_cidr: str | None = None  # the node's own pod range, if the kubelet's pod CIDR is not to be used

    @property
    def socket(self) -> Path:
        """DATA_DIR/containerd.sock; SOCKET_DIR/HASH/containerd.sock (HASH the data dir's) if that is too
        long for a unix socket."""
        own = self.data_dir / "containerd.sock"
        if len(str(own)) <= SOCKET_PATH_MAX:
            return own
        return SOCKET_DIR / hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:16] / "containerd.sock"

    @property
    def config(self) -> Path:
        return self.data_dir / "config.toml"

    @property
    def root(self) -> Path:
        return self.data_dir / "root"

    @property
    def state(self) -> Path:
        return self.data_dir / "state"

    @property
    def cni_conf_dir(self) -> Path:
        return self.data_dir / "cni" / "net.d"

    @property
    def cni_template(self) -> Path:
        return self.data_dir / "cni" / "template.conflist"

    @property
    def ipam_dir(self) -> Path:
        return self.data_dir / "cni" / "ipam"

    @property
    def hosts_dir(self) -> Path:
        return self.data_dir / "certs.d"

    @property
    def network_name(self) -> str:
        return f"timoneiro-{self.bridge}"


def _s(value: str | Path) -> str:
    """A TOML basic string (JSON's escapes are TOML's for these values)."""
    return json.dumps(str(value))


def config_toml(layout: ContainerdLayout) -> str:
    cri = f"plugins.{CRI}"
    runc = f"{cri}.containerd.runtimes.runc"
    return "\n".join([
        "version = 2",
        f"root = {_s(layout.root)}",
        f"state = {_s(layout.state)}",
        "",
        "[grpc]",
        f"  address = {_s(layout.socket)}",
        "[ttrpc]",
        f"  address = {_s(str(layout.socket) + '.ttrpc')}",
        "[metrics]",
        '  address = ""',
        "",
        '[plugins."io.containerd.internal.v1.opt"]',
        f"  path = {_s(layout.data_dir / 'opt')}",
        f"[{cri}]",
        f"  sandbox_image = {_s(layout.sandbox_image)}",
        "  restrict_oom_score_adj = true",
        '  stream_server_address = "127.0.0.1"',
        '  stream_server_port = "0"',
        f"[{cri}.containerd]",
        '  snapshotter = "overlayfs"',
        '  default_runtime_name = "runc"',
        f"[{runc}]",
        '  runtime_type = "io.containerd.runc.v2"',
        f"[{runc}.options]",
        "  SystemdCgroup = false",
        f"  Root = {_s(layout.state / 'runc')}",
        f"[{cri}.cni]",
        f"  bin_dir = {_s(CNI_BIN_DIR)}",
        f"  conf_dir = {_s(layout.cni_conf_dir)}",
        *([] if layout.pod_cidr else [f"  conf_template = {_s(layout.cni_template)}"]),
        f"[{cri}.registry]",
        f"  config_path = {_s(layout.hosts_dir)}",
        "",
    ])


def cni_template(layout: ContainerdLayout, subnet: str = "{{.PodCIDR}}") -> str:
    """A bridge network with host-local addresses from the pod CIDR (containerd fills in {{.PodCIDR}}; or
    the subnet given) and host ports (portmap). No masquerade: pods talk to the host and to each other,
    nothing else."""
    conflist = {
        "cniVersion": "1.0.0",
        "name": layout.network_name,
        "plugins": [
            {"type": "bridge", "bridge": layout.bridge, "isGateway": True, "ipMasq": False, "hairpinMode": True,
             "ipam": {"type": "host-local", "dataDir": str(layout.ipam_dir),
                      "ranges": [[{"subnet": subnet}]], "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    return json.dumps(conflist, indent=2) + "\n"


def hosts_toml(endpoint: str) -> str:
    """Pull (and resolve tags) of one registry host from endpoint, e.g. http://127.0.0.1:5000."""
    return "\n".join([f"server = {_s(endpoint)}", "", f"[host.{_s(endpoint)}]",
                      '  capabilities = ["pull", "resolve"]', ""])
