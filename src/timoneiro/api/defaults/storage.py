"""Defaults of storage.k8s.io/v1 (pkg/apis/storage/v1/defaults.go), with the feature gates of v1.32."""

from __future__ import annotations

from collections.abc import Callable

from timoneiro.api.defaults import core, fill


def storage_class(obj: dict) -> None:
    fill.if_nil(obj, "reclaimPolicy", "Delete")
    fill.if_nil(obj, "volumeBindingMode", "Immediate")


def csi_driver(obj: dict) -> None:
    spec = fill.ensure(obj, "spec")
    fill.if_nil(spec, "attachRequired", True)
    fill.if_nil(spec, "podInfoOnMount", False)
    fill.if_nil(spec, "storageCapacity", False)
    fill.if_nil(spec, "fsGroupPolicy", "ReadWriteOnceWithFSType")
    if not spec.get("volumeLifecycleModes"):
        spec["volumeLifecycleModes"] = ["Persistent"]
    fill.if_nil(spec, "requiresRepublish", False)
    fill.if_nil(spec, "seLinuxMount", False)  # SELinuxMountReadWriteOncePod is on in v1.32


def volume_attachment(obj: dict) -> None:
    """An inline volume spec (CSI migration) is a PersistentVolumeSpec's sources and capacity."""
    inline = fill.child(fill.child(fill.child(obj, "spec"), "source"), "inlineVolumeSpec")
    if inline is not None:
        core.persistent_volume_source(inline)


DEFAULTERS: dict[str, Callable[[dict], None]] = {
    "CSIDriver": csi_driver,
    "StorageClass": storage_class,
    "VolumeAttachment": volume_attachment,
}
