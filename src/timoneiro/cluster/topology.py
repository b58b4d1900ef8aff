"""What a local cluster is made of: its own nodes, the container runtime they run, and the simulated nodes
beside them. Kept in its data dir (TOPOLOGY_FILE), as its pod network and registry port are, so that `up`
after `down` starts the same cluster; options given on the command line replace what was kept."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass

from timoneiro.cluster.names import SIMULATED

TOPOLOGY_FILE = "topology.json"


@dataclass(frozen=True)
class Topology:
    nodes: int = 3  # the control plane included
    runtime: str = SIMULATED  # names.RUNTIMES
    simulated_nodes: int = 0

    @classmethod
    def load(cls, data_dir: str) -> Topology:
        """The one kept in data_dir; the defaults for a cluster that never started."""
        try:
            with open(os.path.join(data_dir, TOPOLOGY_FILE)) as f:
                return cls(**json.load(f))
        except FileNotFoundError:
            return cls()

    def save(self, data_dir: str) -> None:
        path = os.path.join(data_dir, TOPOLOGY_FILE)
        os.makedirs(data_dir, exist_ok=True)
        with open(path + ".tmp", "w") as f:
            json.dump(dataclasses.asdict(self), f)
        os.replace(path + ".tmp", path)

    def overridden(self, **given: int | str | None) -> Topology:
        """This one with the fields given (not None) replaced."""
        return dataclasses.replace(self, **{k: v for k, v in given.items() if v is not None})
