"""DefaultStorageClass: claims created without a storage class get the default one (the newest, when
several are marked default), unless they ask for none ("")."""

from __future__ import annotations

import time
from datetime import datetime

import yaml

from controller_testing import eventually
from timoneiro.apiserver.admission.storageclass import default_class

DEFAULT = {"storageclass.kubernetes.io/is-default-class": "true"}


def storage_class(name: str, annotations: dict | None = None) -> dict:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "provisioner": "example.com/disk",
            "metadata": {"name": name, "annotations": annotations or {}}}


def claim(name: str, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, **spec}}


def class_of(kubectl, obj: dict) -> str | None:
    created = yaml.safe_load(kubectl("create", "-f", "-", "-o", "yaml", input=yaml.safe_dump(obj)))
    return created["spec"].get("storageClassName")


def test_claims_get_the_default_class(kubectl):
    assert class_of(kubectl, claim("before")) is None  # no default class yet
    kubectl("create", "-f", "-", input=yaml.safe_dump(storage_class("fast")))
    alpha = yaml.safe_load(kubectl("create", "-f", "-", "-o", "yaml", input=yaml.safe_dump(
        storage_class("alpha", DEFAULT))))
    assert class_of(kubectl, claim("plain")) == "alpha"
    assert class_of(kubectl, claim("chosen", storageClassName="fast")) == "fast"
    assert class_of(kubectl, claim("none", storageClassName="")) == ""
    # with several defaults the newest wins (zeta is made a second later than alpha, so it is newer)
    made = datetime.fromisoformat(alpha["metadata"]["creationTimestamp"].replace("Z", "+00:00")).timestamp()
    eventually(lambda: time.time() >= made + 1, timeout=3)
    kubectl("create", "-f", "-", input=yaml.safe_dump(storage_class("zeta", DEFAULT)))
    assert class_of(kubectl, claim("newest")) == "zeta"
    # the defaults count only when a claim is created
    assert kubectl("get", "pvc", "before", "-o", "jsonpath={.spec.storageClassName}") == ""


def test_equally_new_defaults_go_by_name():
    at = "2024-01-01T00:00:00Z"
    classes = [{"metadata": {"name": n, "creationTimestamp": at, "annotations": a}}
               for n, a in (("b", DEFAULT), ("a", DEFAULT), ("0", {}),
                            ("old", {"storageclass.beta.kubernetes.io/is-default-class": "true"}))]
    classes[3]["metadata"]["creationTimestamp"] = "2023-01-01T00:00:00Z"
    assert default_class(classes)["metadata"]["name"] == "a"
    assert default_class(classes[2:])["metadata"]["name"] == "old"
    assert default_class(classes[2:3]) is None
