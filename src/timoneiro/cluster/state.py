"""What a running cluster leaves in its data dir for `down` and `status`: its processes, URL and nodes."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass

from timoneiro.cluster.procs import Proc

STATE_FILE = "cluster.json"
LOG_FILE = "cluster.log"


def default_data_dir(name: str) -> str:
    return os.path.join(os.path.expanduser("~/.timoneiro"), name)


def log_path(data_dir: str) -> str:
    return os.path.join(data_dir, LOG_FILE)


def running_cluster(data_dir: str) -> ClusterState | None:
    """The cluster recorded in the data dir, if any of its processes still runs: a second one on the same
    storage must not start."""
    state = ClusterState.load(data_dir)
    return state if state is not None and state.running() else None


@dataclass
class ClusterState:
    name: str
    url: str
    nodes: list[str]
    procs: list[Proc]  # the supervisor first, then the processes it forked

    def running(self) -> bool:
        return any(p.alive() for p in self.procs)

    def save(self, data_dir: str) -> None:
        """Replace the file atomically: a reader sees the old state or the new one, never half of one."""
        path = os.path.join(data_dir, STATE_FILE)
        with open(path + ".tmp", "w") as f:
            json.dump(asdict(self), f, indent=2)
        os.replace(path + ".tmp", path)

    @classmethod
    def load(cls, data_dir: str) -> ClusterState | None:
        try:
            with open(os.path.join(data_dir, STATE_FILE)) as f:
                doc = json.load(f)
        except FileNotFoundError:
            return None
        return cls(doc["name"], doc["url"], doc["nodes"], [Proc(**p) for p in doc["procs"]])

    @staticmethod
    def forget(data_dir: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(data_dir, STATE_FILE))
