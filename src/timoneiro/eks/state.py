"""What the service knows, kept across restarts: one JSON document per cluster under
DATA/clusters/NAME/eks.json, holding the cluster and everything in it as the API describes them
(botocore's member names; times as epoch seconds). Keys starting with "_" are the service's own
bookkeeping and never reach a response (the serializer writes only the output shape's members)."""

from __future__ import annotations

import os
import shutil

import orjson

from timoneiro.files import write_private

DOC = "eks.json"
SECTIONS = ("nodegroups", "addons", "accessEntries", "associatedPolicies", "updates", "autoScalingGroups")


def new_doc(cluster: dict) -> dict:
    """A cluster's document: the cluster (DescribeCluster's shape), and by name or id its node groups,
    add-ons, access entries (by principal ARN), associated access policies (principal ARN -> list),
    updates (id -> Update, with "_resource": "" for the cluster or a node group's or add-on's name), and
    the Auto Scaling groups behind its node groups (by group name)."""
    return {"cluster": cluster, **{section: {} for section in SECTIONS}}


class Store:
    def __init__(self, data_dir: str) -> None:
        self.data_dir = data_dir
        self.clusters: dict[str, dict] = {}
        root = self.root()
        os.makedirs(root, exist_ok=True)
        for name in sorted(os.listdir(root)):
            path = os.path.join(root, name, DOC)
            if os.path.exists(path):
                with open(path, "rb") as f:
                    self.clusters[name] = orjson.loads(f.read())

    def root(self) -> str:
        return os.path.join(self.data_dir, "clusters")

    def cluster_dir(self, name: str) -> str:
        return os.path.join(self.root(), name)

    def add(self, doc: dict) -> None:
        name = doc["cluster"]["name"]
        self.clusters[name] = doc
        os.makedirs(self.cluster_dir(name), exist_ok=True)
        self.save(name)

    def save(self, name: str) -> None:
        """Write one cluster's document atomically (it may hold secrets of the cluster's users: 0600)."""
        doc = self.clusters.get(name)
        if doc is not None:
            write_private(os.path.join(self.cluster_dir(name), DOC), orjson.dumps(doc))

    def drop(self, name: str) -> None:
        """Forget a deleted cluster and remove its directory (its control plane's storage and PKI too)."""
        self.clusters.pop(name, None)
        shutil.rmtree(self.cluster_dir(name), ignore_errors=True)
