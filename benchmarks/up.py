"""`timoneiro up` benchmark: seconds from the command's start to its return with every node Ready.

    python benchmarks/up.py [--nodes 3] [--runs 7]

Each run starts a fresh cluster (new data dir; HOME and KUBECONFIG of the benchmark's own), checks with
kubectl that every node is Ready, and takes it down again (timed too). Python's bytecode cache is on, in a
directory of the benchmark's own, and one untimed run fills it first: that is how an installed timoneiro
runs, even where the environment sets PYTHONDONTWRITEBYTECODE.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command[2:])} failed ({proc.returncode}):\n{proc.stderr}")
    return elapsed


def run(nodes: int, work: str, env: dict[str, str]) -> tuple[float, float]:
    data = tempfile.mkdtemp(dir=work, prefix="data-")
    timoneiro = [sys.executable, "-m", "timoneiro"]
    up = timed([*timoneiro, "up", "--nodes", str(nodes), "--data-dir", data], env)
    try:
        statuses = subprocess.run(["kubectl", "get", "nodes", "--no-headers", "-o",
                                   "custom-columns=READY:.status.conditions[?(@.type=='Ready')].status"],
                                  env=env, check=True, capture_output=True, text=True).stdout.split()
        if statuses != ["True"] * nodes:
            raise SystemExit(f"not every node is Ready: {statuses}")
    finally:
        down = timed([*timoneiro, "down", "--purge", "--data-dir", data], env)
    return up, down


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="timoneiro-bench-up-")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(HOME=work, KUBECONFIG=os.path.join(work, "kubeconfig"),
               PYTHONPYCACHEPREFIX=os.path.join(work, "pycache"))
    run(args.nodes, work, env)  # fills the bytecode cache
    ups, downs = [], []
    for i in range(args.runs):
        up, down = run(args.nodes, work, env)
        ups.append(up)
        downs.append(down)
        print(f"run {i + 1}: up {up:.3f} s   down {down:.3f} s", flush=True)
    print(f"timoneiro up --nodes {args.nodes}, all nodes Ready: median {statistics.median(ups):.3f} s "
          f"(min {min(ups):.3f}, max {max(ups):.3f}); down: median {statistics.median(downs):.3f} s")
    shutil.rmtree(work)  # kept after a failure, for its logs


if __name__ == "__main__":
    main()
