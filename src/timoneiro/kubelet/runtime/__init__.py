"""Container runtimes behind one CRI-shaped interface: the simulated one here, a real one to come."""

from timoneiro.kubelet.runtime.base import Runtime
from timoneiro.kubelet.runtime.simulated import SimulatedRuntime

__all__ = ["Runtime", "SimulatedRuntime"]
