"""The ReplicationController controller: the ReplicaSet controller for the older kind, whose selector is a
plain label map (upstream runs the same code through a conversion; here the difference is a ReplicaKind)."""

from __future__ import annotations

from timoneiro.api import selectors
from timoneiro.client.resources import REPLICATIONCONTROLLERS
from timoneiro.controllers.replicaset import ReplicaKind, ReplicaSetController

REPLICATION_CONTROLLER = ReplicaKind(
    REPLICATIONCONTROLLERS, "v1", "ReplicationController", "replication-controller",
    lambda spec: selectors.from_label_selector({"matchLabels": spec.get("selector") or {}}))


class ReplicationControllerController(ReplicaSetController):
    name = "replicationcontroller"
    service_account = "replication-controller"
    kind = REPLICATION_CONTROLLER
