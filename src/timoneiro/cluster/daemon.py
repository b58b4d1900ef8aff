"""Running a cluster in the background: starting its supervisor detached from the terminal, and stopping
the processes a data dir records, and only those."""

from __future__ import annotations

import os
import subprocess
import sys

from timoneiro.cluster.procs import terminate
from timoneiro.cluster.state import ClusterState, log_path

SUPERVISOR_STOP = 30.0  # the supervisor gives each of its two processes 10 s before it kills it
ORPHAN_STOP = 5.0


def start_daemon(name: str, data_dir: str, nodes: int, port: int | None,
                 extra: list[str] = ()) -> tuple[subprocess.Popen, int]:
    """The supervisor, in a session of its own (no terminal, immune to the shell's Ctrl-C and hangup), with
    its output appended to the cluster's log; and the reading end of the pipe it reports progress on.
    `extra`: more options of `timoneiro cluster`."""
    os.makedirs(data_dir, exist_ok=True)
    read_fd, write_fd = os.pipe()
    command = [sys.executable, "-m", "timoneiro", "cluster", "--name", name, "--data-dir", data_dir,
               "--nodes", str(nodes), "--notify-fd", str(write_fd)]
    if port:
        command += ["--port", str(port)]
    command += extra
    try:
        with open(log_path(data_dir), "ab") as log:
            daemon = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                      pass_fds=(write_fd,), start_new_session=True, cwd="/")
    finally:
        os.close(write_fd)
    return daemon, read_fd


def stop_daemon(data_dir: str) -> ClusterState | None:
    """SIGTERM to the supervisor, which stops the rest in order; SIGKILL for what outlives the grace period
    (or was orphaned by a supervisor killed before). Answer the state that was recorded, if any."""
    state = ClusterState.load(data_dir)
    if state is not None:
        terminate(state.procs[:1], SUPERVISOR_STOP)
        terminate(state.procs[1:], ORPHAN_STOP)
        ClusterState.forget(data_dir)
    return state


def abort_daemon(daemon: subprocess.Popen, data_dir: str) -> None:
    """Stop a cluster that did not come up. Its supervisor stops what it started, in order (it is at it
    already if one of its processes failed); if it does not exit in time, it is killed, and what it
    started is stopped by the record."""
    daemon.terminate()
    try:
        daemon.wait(SUPERVISOR_STOP)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait()
    stop_daemon(data_dir)
