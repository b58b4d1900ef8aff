"""Updates: what UpdateClusterConfig, UpdateClusterVersion, UpdateNodegroupConfig/Version and UpdateAddon
return, kept in the cluster's document so that DescribeUpdate and ListUpdates find them; InProgress until
the work behind them ends, then Successful or Failed with its errors."""

from __future__ import annotations

import time
import uuid

from timoneiro.eks.service import Eks


def begin_update(eks: Eks, cluster: str, kind: str, params: list[tuple[str, str]], resource: str = "") -> dict:
    """Record an update of the cluster (resource "") or of its node group or add-on named `resource`."""
    update = {"id": str(uuid.uuid4()), "status": "InProgress", "type": kind,
              "params": [{"type": t, "value": v} for t, v in params], "createdAt": time.time(), "errors": [],
              "_resource": resource}
    eks.doc(cluster)["updates"][update["id"]] = update
    eks.store.save(cluster)
    return update


def end_update(eks: Eks, cluster: str, update_id: str, error: dict | None = None) -> None:
    """Successful, or Failed with one ErrorDetail ({errorCode, errorMessage, resourceIds})."""
    doc = eks.store.clusters.get(cluster)
    if doc is None or update_id not in doc["updates"]:
        return
    update = doc["updates"][update_id]
    update["status"] = "Failed" if error else "Successful"
    update["errors"] = [error] if error else []
    eks.store.save(cluster)


def in_progress(eks: Eks, cluster: str, resource: str = "") -> bool:
    return any(u["status"] == "InProgress" and u["_resource"] == resource
               for u in eks.doc(cluster)["updates"].values())
