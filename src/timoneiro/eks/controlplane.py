"""A cluster's control plane: a timoneiro cluster without nodes (storage, API server, controller manager,
scheduler) run by its own supervisor under the cluster's directory, on the port the service chose for its
endpoint. The service talks to it as its super-admin (system:masters), as EKS's own machinery does."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import threading

from timoneiro.client import ClientConfig
from timoneiro.cluster.daemon import abort_daemon, start_daemon, stop_daemon
from timoneiro.cluster.progress import read_events
from timoneiro.cluster.state import log_path, running_cluster
from timoneiro.pki.cluster import ClusterPKI

START_TIMEOUT = 300.0  # as `timoneiro up`'s: a loaded 2-core machine can take a minute


class StartFailed(Exception):
    pass


# Supervisors still starting, by data dir: until one has recorded its processes, stopping by the record
# would miss it, so stop() aborts it through its handle; a stop that comes before the supervisor is even
# started is noted, and the start aborts it once started.
_starting: dict[str, subprocess.Popen] = {}
_stopped: set[str] = set()
_lock = threading.Lock()


class ControlPlane:
    def __init__(self, cluster_dir: str, name: str, port: int) -> None:
        self.name, self.port = name, port
        self.data_dir = os.path.join(cluster_dir, "control-plane")
        self.url = f"https://127.0.0.1:{port}"
        self.pki = ClusterPKI(self.data_dir)

    def running(self) -> bool:
        return running_cluster(self.data_dir) is not None

    async def start(self, extra: list[str] = ()) -> None:
        """Start it (unless it runs already, as after a restart of the service) and return once its API
        server serves and its controllers and scheduler have started; StartFailed otherwise."""
        if self.running():
            return
        with _lock:
            _stopped.discard(self.data_dir)
        await asyncio.to_thread(self._start, list(extra))

    def _start(self, extra: list[str]) -> None:
        # users get their kubeconfig from update-kubeconfig; pods their addresses from the VPC (as the VPC CNI
        # gives them), not from node ranges
        daemon, events = start_daemon(self.name, self.data_dir, 0, self.port,
                                      ["--no-kubeconfig", "--cluster-cidr=", *extra])
        with _lock:
            _starting[self.data_dir] = daemon
            stopped = self.data_dir in _stopped
        try:
            if stopped:
                raise StartFailed("stopped while starting")
            for event, detail in read_events(events, START_TIMEOUT, lambda: daemon.poll() is None):
                if event == "failed":
                    raise StartFailed(detail)
                if event == "ready":
                    return
            raise StartFailed(f"the control plane exited with code {daemon.wait()}; see {log_path(self.data_dir)}")
        except BaseException:
            abort_daemon(daemon, self.data_dir)
            raise
        finally:
            with _lock:
                _starting.pop(self.data_dir, None)
            os.close(events)
            _reap_later(daemon)

    async def stop(self) -> None:
        """Stop it, also while it is still starting (the start then fails)."""
        with _lock:
            _stopped.add(self.data_dir)
            starting = _starting.get(self.data_dir)
        if starting is not None:
            await asyncio.to_thread(abort_daemon, starting, self.data_dir)
        await asyncio.to_thread(stop_daemon, self.data_dir)

    @property
    def admin(self) -> ClientConfig:
        """The super-admin's kubeconfig (system:masters): not subject to RBAC, so that what the service does
        in the cluster never depends on bindings its users may change."""
        return self.pki.config("super-admin.conf")

    @property
    def certificate_authority(self) -> str:
        """certificateAuthority.data: the cluster CA's PEM, base64-encoded."""
        return base64.b64encode(self.pki.ca_pem).decode()

    def node_config(self, node: str) -> ClientConfig:
        """A kubelet's credentials, system:node:NODE in system:nodes, signed by the cluster CA."""
        return self.pki.node_config(node, self.url)


def _reap_later(daemon: subprocess.Popen) -> None:
    """The supervisor runs on in its own session; wait for it in the background so that it leaves no zombie."""
    threading.Thread(target=daemon.wait, daemon=True).start()
