"""The kubelet: per-pod workers, a pod lifecycle event generator, a status manager and probe workers
around a CRI-shaped container runtime (simulated by default)."""

from timoneiro.kubelet.kubelet import Kubelet
from timoneiro.kubelet.settings import KubeletSettings

__all__ = ["Kubelet", "KubeletSettings"]
