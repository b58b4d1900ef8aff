"""Defaults of volume sources and persistent volume claims (core/v1).

Pods, pod templates, PersistentVolumes and VolumeAttachments share the in-tree source defaults;
claims are defaulted the same way standalone, inside StatefulSets and in ephemeral volumes.
"""

from __future__ import annotations

from timoneiro.api.defaults import fill, quantity

FILE_MODE = 0o644  # what upstream's Secret/ConfigMap/DownwardAPI/Projected sources default defaultMode to
TOKEN_SECONDS = 3600


def source(src: dict) -> None:
    """The sources a pod Volume and a PersistentVolumeSpec both have."""
    if (host_path := fill.child(src, "hostPath")) is not None:
        fill.if_nil(host_path, "type", "")
    if (rbd := fill.child(src, "rbd")) is not None:
        fill.if_zero(rbd, "pool", "rbd")
        fill.if_zero(rbd, "user", "admin")
        fill.if_zero(rbd, "keyring", "/etc/ceph/keyring")
    if (iscsi := fill.child(src, "iscsi")) is not None:
        fill.if_zero(iscsi, "iscsiInterface", "default")
    if (azure := fill.child(src, "azureDisk")) is not None:
        fill.if_nil(azure, "cachingMode", "ReadWrite")
        fill.if_nil(azure, "fsType", "ext4")
        fill.if_nil(azure, "readOnly", False)
        fill.if_nil(azure, "kind", "Shared")
    if (scale_io := fill.child(src, "scaleIO")) is not None:
        fill.if_zero(scale_io, "storageMode", "ThinProvisioned")
        fill.if_zero(scale_io, "fsType", "xfs")


def volume(vol: dict) -> None:
    """SetDefaults_Volume and the defaulters of each source a pod volume can have."""
    if all(value is None for key, value in vol.items() if key != "name"):
        vol["emptyDir"] = {}
    source(vol)
    for key in ("secret", "configMap"):
        if (src := fill.child(vol, key)) is not None:
            fill.if_nil(src, "defaultMode", FILE_MODE)
    if (downward := fill.child(vol, "downwardAPI")) is not None:
        fill.if_nil(downward, "defaultMode", FILE_MODE)
        _downward_items(downward)
    if (projected := fill.child(vol, "projected")) is not None:
        fill.if_nil(projected, "defaultMode", FILE_MODE)
        for projection in fill.dicts(projected, "sources"):
            _downward_items(fill.child(projection, "downwardAPI"))
            if (token := fill.child(projection, "serviceAccountToken")) is not None:
                fill.if_nil(token, "expirationSeconds", TOKEN_SECONDS)
    if (template := fill.child(fill.child(vol, "ephemeral"), "volumeClaimTemplate")) is not None:
        fill.embedded_metadata(template)
        claim_spec(fill.ensure(template, "spec"))


def field_ref(ref: dict | None) -> None:
    """SetDefaults_ObjectFieldSelector."""
    if ref is not None:
        fill.if_zero(ref, "apiVersion", "v1")


def claim(pvc: dict) -> None:
    """A PersistentVolumeClaim, standalone or as a StatefulSet's volumeClaimTemplate."""
    status = fill.ensure(pvc, "status")
    fill.if_zero(status, "phase", "Pending")
    claim_spec(fill.ensure(pvc, "spec"))
    quantity.resource_list(status, "capacity")
    quantity.resource_list(status, "allocatedResources")


def claim_spec(spec: dict) -> None:
    """SetDefaults_PersistentVolumeClaimSpec, with its resource lists."""
    fill.if_nil(spec, "volumeMode", "Filesystem")
    quantity.requirements(fill.ensure(spec, "resources"))


def _downward_items(downward: dict | None) -> None:
    for item in fill.dicts(downward, "items"):
        field_ref(fill.child(item, "fieldRef"))
