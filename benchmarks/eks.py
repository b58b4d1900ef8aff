"""The EKS-compatible service through boto3: how long clusters and node groups take to be there and to go.

    python benchmarks/eks.py [--clusters 3] [--nodes 3] [--scale-to 50] [--calls 500]

The service runs as tests run it (an EksServerThread: plain HTTP on a free loopback port, a temp data dir;
each cluster its own control-plane processes, each node group one node-agent process of simulated kubelets),
and this process drives it with boto3 as its admin user (no retries, AWS config and credential files of the
benchmark's own). Steps, each timed from the request to the state it leads to, seen by polling every 20 ms:

1. CreateCluster to ACTIVE, `--clusters` of them one after another (bootstrapSelfManagedAddons left to its
   default: CoreDNS, kube-proxy and the VPC CNI are installed);
2. CreateNodegroup of `--nodes` nodes on each cluster to ACTIVE, with kubectl (the cluster's admin.conf)
   showing every node of the group Ready;
3. UpdateNodegroupConfig on the first cluster's node group, `--nodes` to `--scale-to` and then to 0, to ACTIVE
   with kubectl showing that many Ready nodes;
4. DescribeCluster and ListClusters request latency, `--calls` sequential calls each (boto3's own signing
   and parsing included, as a user sees it);
5. DeleteNodegroup and DeleteCluster to gone (ResourceNotFoundException); the first cluster's node group
   has 0 nodes by then, the others `--nodes`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
from timoneiro.eks.server import EksServerThread  # noqa: E402

ROLE = "arn:aws:iam::111122223333:role/eksClusterRole"
NODE_ROLE = "arn:aws:iam::111122223333:role/eksNodeRole"
SUBNETS = ["subnet-0a1", "subnet-0b2", "subnet-0c3"]
NODEGROUP_LABEL = "eks.amazonaws.com/nodegroup"
POLL = 0.02
TIMEOUT = 600.0


class Bench:
    """The service, a boto3 client of it, and what the steps measured (label -> seconds)."""

    def __init__(self, work: str, server: EksServerThread) -> None:
        self.work, self.server = work, server
        key = server.credentials
        self.eks = boto3.session.Session(
            aws_access_key_id=key.principal.access_key_id, aws_secret_access_key=key.secret_access_key,
            region_name=server.region).client("eks", endpoint_url=server.url,
                                              config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
        self.figures: dict[str, list[float]] = {}

    def record(self, label: str, seconds: float) -> None:
        self.figures.setdefault(label, []).append(seconds)
        print(f"  {label}: {seconds * 1000:.0f} ms", flush=True)

    # polling

    @staticmethod
    def until(check: Callable[[], bool], what: str) -> float:
        """perf_counter() when `check` first held."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if check():
                return time.perf_counter()
            time.sleep(POLL)
        raise SystemExit(f"timed out waiting for {what}")

    def gone(self, call: Callable[[], object]) -> bool:
        try:
            call()
        except ClientError as e:
            if e.response["Error"]["Code"] == "ResourceNotFoundException":
                return True
            raise
        return False

    def cluster_status(self, name: str) -> str:
        status = self.eks.describe_cluster(name=name)["cluster"]["status"]
        if status == "FAILED":
            raise SystemExit(f"cluster {name} FAILED")
        return status

    def nodegroup_status(self, cluster: str, name: str) -> str:
        nodegroup = self.eks.describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"]
        if nodegroup["status"] in ("CREATE_FAILED", "DEGRADED", "DELETE_FAILED"):
            raise SystemExit(f"node group {name}: {nodegroup['status']} {nodegroup['health']}")
        return nodegroup["status"]

    def ready_nodes(self, cluster: str, nodegroup: str) -> tuple[int, int]:
        """(Ready, all) nodes of the node group, as kubectl reports them."""
        admin = os.path.join(self.server.eks.control_plane(cluster).data_dir, "admin.conf")
        proc = subprocess.run(["kubectl", "--kubeconfig", admin, "--cache-dir", os.path.join(self.work, "kube-cache"),
                               "get", "nodes", "-l", f"{NODEGROUP_LABEL}={nodegroup}", "-o", "json"],
                              capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise SystemExit(f"kubectl get nodes failed: {proc.stderr}")
        nodes = json.loads(proc.stdout)["items"]
        ready = [n for n in nodes if any(c["type"] == "Ready" and c["status"] == "True"
                                         for c in n["status"].get("conditions") or ())]
        return len(ready), len(nodes)

    def settled(self, cluster: str, nodegroup: str, size: int) -> float:
        """When the node group was ACTIVE with `size` Ready nodes (and no others): ACTIVE as polled, unless
        kubectl, asked then, does not show that yet (then when it does)."""
        at = self.until(lambda: self.nodegroup_status(cluster, nodegroup) == "ACTIVE", f"{nodegroup} ACTIVE")
        if self.ready_nodes(cluster, nodegroup) != (size, size):
            at = self.until(lambda: self.ready_nodes(cluster, nodegroup) == (size, size),
                            f"{size} Ready nodes in {nodegroup}")
        return at

    # the steps

    def create_cluster(self, name: str) -> None:
        began = time.perf_counter()
        self.eks.create_cluster(name=name, roleArn=ROLE, resourcesVpcConfig={"subnetIds": SUBNETS})
        self.record("CreateCluster call", time.perf_counter() - began)
        self.record("CreateCluster -> ACTIVE",
                    self.until(lambda: self.cluster_status(name) == "ACTIVE", f"{name} ACTIVE") - began)

    def create_nodegroup(self, cluster: str, name: str, size: int, most: int) -> None:
        began = time.perf_counter()
        self.eks.create_nodegroup(clusterName=cluster, nodegroupName=name, nodeRole=NODE_ROLE, subnets=SUBNETS,
                                  instanceTypes=["t3.medium"],
                                  scalingConfig={"minSize": 0, "maxSize": most, "desiredSize": size})
        self.record(f"CreateNodegroup ({size}) -> ACTIVE, Ready", self.settled(cluster, name, size) - began)

    def scale(self, cluster: str, name: str, before: int, after: int) -> None:
        began = time.perf_counter()
        self.eks.update_nodegroup_config(clusterName=cluster, nodegroupName=name,
                                         scalingConfig={"desiredSize": after})
        self.record(f"scale {before} -> {after}, ACTIVE, Ready", self.settled(cluster, name, after) - began)

    def latency(self, label: str, call: Callable[[], object], count: int) -> None:
        for _ in range(20):  # connections made, code paths warm
            call()
        took = []
        began = time.perf_counter()
        for _ in range(count):
            start = time.perf_counter()
            call()
            took.append(time.perf_counter() - start)
        elapsed = time.perf_counter() - began
        ordered = sorted(took)
        self.figures[label] = ordered
        print(f"  {label}: p50 {ordered[len(ordered) // 2] * 1000:.2f} ms, "
              f"p99 {ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000:.2f} ms, "
              f"{count / elapsed:.0f} calls/s", flush=True)

    def delete_nodegroup(self, cluster: str, name: str, size: int) -> None:
        began = time.perf_counter()
        self.eks.delete_nodegroup(clusterName=cluster, nodegroupName=name)
        at = self.until(lambda: self.gone(lambda: self.eks.describe_nodegroup(clusterName=cluster,
                                                                              nodegroupName=name)),
                        f"{name} gone")
        self.record(f"DeleteNodegroup ({size}) -> gone", at - began)

    def delete_cluster(self, name: str) -> None:
        began = time.perf_counter()
        self.eks.delete_cluster(name=name)
        at = self.until(lambda: self.gone(lambda: self.eks.describe_cluster(name=name)), f"{name} gone")
        self.record("DeleteCluster -> gone", at - began)


def run(bench: Bench, clusters: int, size: int, scale_to: int, calls: int) -> None:
    names = [f"bench-{i + 1}" for i in range(clusters)]
    first, nodegroup = names[0], "workers"
    print("1. clusters", flush=True)
    for name in names:
        bench.create_cluster(name)
    print("2. node groups", flush=True)
    for name in names:
        bench.create_nodegroup(name, nodegroup, size, scale_to)
    print(f"3. scaling {first}'s node group", flush=True)
    bench.scale(first, nodegroup, size, scale_to)
    bench.scale(first, nodegroup, scale_to, 0)
    print("4. request latency", flush=True)
    bench.latency("DescribeCluster", lambda: bench.eks.describe_cluster(name=first), calls)
    bench.latency(f"ListClusters ({clusters} clusters)", bench.eks.list_clusters, calls)
    print("5. deleting", flush=True)
    for name in names[1:]:
        bench.delete_nodegroup(name, nodegroup, size)
    bench.delete_nodegroup(first, nodegroup, 0)
    for name in names:
        bench.delete_cluster(name)


def table(figures: dict[str, list[float]]) -> None:
    print(f"\n{'step':<40} {'n':>4} {'median':>10} {'min':>10} {'max':>10} {'p99':>10}")
    for label, values in figures.items():
        ordered = sorted(values)
        p99 = f"{ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000:8.1f}ms" if len(values) > 3 else ""
        print(f"{label:<40} {len(values):>4} {statistics.median(values) * 1000:8.1f}ms "
              f"{ordered[0] * 1000:8.1f}ms {ordered[-1] * 1000:8.1f}ms {p99:>10}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clusters", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--scale-to", type=int, default=50)
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # through the finally below, as Ctrl-C goes
    with tempfile.TemporaryDirectory(prefix="timoneiro-bench-eks-") as work:
        for key in [k for k in os.environ if k.startswith("AWS_")]:
            del os.environ[key]
        os.environ.update(AWS_CONFIG_FILE=os.path.join(work, "aws-config"), AWS_EC2_METADATA_DISABLED="true",
                          AWS_SHARED_CREDENTIALS_FILE=os.path.join(work, "aws-credentials"))
        server = EksServerThread(os.path.join(work, "data")).start()
        try:
            bench = Bench(work, server)
            run(bench, args.clusters, args.nodes, args.scale_to, args.calls)
        finally:
            server.stop()  # stops every cluster's control plane and node agent it started
        table(bench.figures)


if __name__ == "__main__":
    main()
