"""Volumes, security contexts and $(VAR) expansion in real containers, with the real kubectl against
`timoneiro up --runtime containerd`: what a container sees is read from its CRI log on the node.

One two-node cluster for the file; the pods of a test start together.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from test_up_containerd import BUSYBOX, ContainerdUser, running

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("containerd"),
                                reason="containerd needs root and scripts/setup.sh's packages")


class VolumesUser(ContainerdUser):
    node_count = 2

    def pod(self, name: str) -> dict:
        return json.loads(self.kubectl("get", "pod", name, "-o", "json"))

    def wait_done(self, name: str) -> dict:
        """The pod once every container of it terminated."""
        for _ in range(300):
            pod = self.pod(name)
            statuses = pod["status"].get("containerStatuses") or ()
            if statuses and all("terminated" in s.get("state", {}) for s in statuses):
                return pod
            time.sleep(0.2)
        raise AssertionError(f"pod {name} did not finish: {self.kubectl('describe', 'pod', name)}")

    def output(self, pod: dict, container: str = "main") -> str:
        """What the container wrote, from the CRI log the node's containerd keeps."""
        meta = pod["metadata"]
        log = (self.data / "nodes" / pod["spec"]["nodeName"] / "pods" /
               f"{meta['namespace']}_{meta['name']}_{meta['uid']}" / container / "0.log")
        return "".join(line.split(" ", 3)[3] + ("\n" if line.split(" ", 3)[2] == "F" else "")
                       for line in log.read_text().splitlines())

    def pod_dir(self, pod: dict) -> Path:
        return self.data / "nodes" / pod["spec"]["nodeName"] / "pods" / pod["metadata"]["uid"]


def _pod(name: str, *containers: dict, volumes: list[dict] | None = None, **spec: object) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"restartPolicy": "Never", "containers": list(containers), "volumes": volumes or [], **spec}}


def _container(script: str, name: str = "main", **fields: object) -> dict:
    return {"name": name, "image": BUSYBOX, "command": ["sh", "-c", script], **fields}


def _exit_code(pod: dict, container: str = "main") -> int:
    return next(s["state"]["terminated"]["exitCode"] for s in pod["status"]["containerStatuses"]
                if s["name"] == container)


@pytest.fixture(scope="module")
def user() -> Iterator[VolumesUser]:
    with running(VolumesUser, "tm-vol-") as u:
        yield u


def test_config_maps_and_secrets_as_files_and_env_and_expansion(user: VolumesUser) -> None:
    user.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
                "data": {"greeting": "hello", "colour": "blue"}},
               {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
                "data": {"password": base64.b64encode(b"s3cret").decode(), "user": base64.b64encode(b"admin").decode()}})
    script = ("cat /config/greeting; echo; cat /config/colour; echo; cat /secret/pw; echo; stat -L -c %a /secret/pw;"
              " ls /secret; readlink /config/..data >/dev/null && echo atomic; echo \"$GREETING $PASSWORD\";"
              " touch /config/new 2>/dev/null || echo read-only")
    files = _pod("files", _container(script, env=[
        {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "greeting"}}},
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}}],
        volumeMounts=[{"name": "config", "mountPath": "/config"}, {"name": "secret", "mountPath": "/secret"}]),
        volumes=[{"name": "config", "configMap": {"name": "settings"}},
                 {"name": "secret", "secret": {"secretName": "creds", "defaultMode": 0o644,
                                               "items": [{"key": "password", "path": "pw", "mode": 0o400}]}}])
    expanded = _pod("expanded", {"name": "main", "image": BUSYBOX, "command": ["echo"],
                                 "args": ["$(NAME)", "$$(NAME)", "$(MISSING)", "$(BOTH)"],
                                 "env": [{"name": "NAME", "value": "world"}, {"name": "BOTH", "value": "$(NAME)!"}]})
    user.apply(files, expanded)
    files, expanded = user.wait_done("files"), user.wait_done("expanded")
    assert _exit_code(files) == 0
    assert user.output(files).split("\n") == ["hello", "blue", "s3cret", "400", "pw", "atomic", "hello s3cret",
                                              "read-only", ""]
    assert user.output(expanded) == "world $(NAME) $(MISSING) world!\n"


def test_an_empty_dir_is_shared_by_the_containers_of_a_pod(user: VolumesUser) -> None:
    writer = _container("echo from-the-writer > /shared/message; grep ' /memory ' /proc/mounts", name="writer",
                        volumeMounts=[{"name": "shared", "mountPath": "/shared"},
                                      {"name": "memory", "mountPath": "/memory"}])
    reader = _container("for i in $(seq 100); do test -s /data/message && exec cat /data/message; sleep 0.1; done;"
                        " exit 1", name="reader", volumeMounts=[{"name": "shared", "mountPath": "/data"}])
    user.apply(_pod("shared", writer, reader, volumes=[
        {"name": "shared", "emptyDir": {}}, {"name": "memory", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}]))
    pod = user.wait_done("shared")
    assert (_exit_code(pod, "writer"), _exit_code(pod, "reader")) == (0, 0)
    assert user.output(pod, "reader") == "from-the-writer\n"
    assert "tmpfs /memory tmpfs rw" in user.output(pod, "writer") and "size=16384k" in user.output(pod, "writer")
    volumes = user.pod_dir(pod) / "volumes"
    assert (volumes / "kubernetes.io~empty-dir" / "shared" / "message").read_text() == "from-the-writer\n"
    user.kubectl("delete", "pod", "shared", "--wait=true")
    for _ in range(100):  # the kubelet removes the pod's directory and unmounts its tmpfs once it is gone
        if not user.pod_dir(pod).exists():
            break
        time.sleep(0.1)
    assert not user.pod_dir(pod).exists()
    assert str(user.pod_dir(pod)) not in Path("/proc/self/mountinfo").read_text()


def test_the_service_account_token_is_mounted_and_signs_in(user: VolumesUser) -> None:
    account = "/var/run/secrets/kubernetes.io/serviceaccount"
    user.apply(_pod("token", _container(f"cat {account}/token; echo; cat {account}/namespace; echo;"
                                        f" cat {account}/ca.crt | head -1")))
    pod = user.wait_done("token")
    token, namespace, ca = user.output(pod).split("\n")[:3]
    assert (namespace, ca) == ("default", "-----BEGIN CERTIFICATE-----")
    cluster = user.config()["clusters"][0]
    signed_in = user.home / "token.kubeconfig"  # the cluster, and the token as the only credential
    signed_in.write_text(json.dumps({"apiVersion": "v1", "kind": "Config", "current-context": "pod",
                                     "clusters": [cluster], "users": [{"name": "pod", "user": {"token": token}}],
                                     "contexts": [{"name": "pod", "context": {"cluster": cluster["name"],
                                                                              "user": "pod"}}]}))
    assert user.kubectl("--kubeconfig", str(signed_in), "auth", "whoami", "-o",
                        "jsonpath={.status.userInfo.username}") == "system:serviceaccount:default:default"


def test_security_contexts_users_groups_read_only_roots_and_capabilities(user: VolumesUser) -> None:
    ids = _container("id -u; id -g; id -G; stat -c %g /data; touch /data/ok && echo writable",
                     volumeMounts=[{"name": "data", "mountPath": "/data"}],
                     securityContext={"runAsGroup": 2345, "allowPrivilegeEscalation": False})
    locked = _container("touch /new-file 2>/dev/null || echo refused; grep CapEff /proc/self/status", name="locked",
                        securityContext={"runAsUser": 0, "readOnlyRootFilesystem": True,
                                         "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]}})
    root = _pod("as-root", _container("true"), securityContext={"runAsNonRoot": True})
    user.apply(_pod("ids", ids, locked, volumes=[{"name": "data", "emptyDir": {}}],
                    securityContext={"runAsUser": 1234, "fsGroup": 3456}), root)
    pod = user.wait_done("ids")
    assert user.output(pod).split("\n") == ["1234", "2345", "2345 3456", "3456", "writable", ""]
    assert user.output(pod, "locked").split("\n") == ["refused", "CapEff:\t0000000000001000", ""]
    for _ in range(100):
        waiting = (user.pod("as-root")["status"].get("containerStatuses") or [{}])[0].get("state", {}).get("waiting")
        if waiting and waiting.get("reason") == "CreateContainerConfigError":
            break
        time.sleep(0.1)
    uid = user.pod("as-root")["metadata"]["uid"]
    assert waiting == {"reason": "CreateContainerConfigError", "message":
                       f'container has runAsNonRoot and image will run as root (pod: "as-root_default({uid})", '
                       "container: main)"}


def test_a_missing_config_map_keeps_the_pod_creating_until_it_comes(user: VolumesUser) -> None:
    user.apply(_pod("waits", _container("cat /config/ready", volumeMounts=[{"name": "config", "mountPath": "/config"}]),
                    volumes=[{"name": "config", "configMap": {"name": "later"}}]))
    message = 'MountVolume.SetUp failed for volume "config" : configmap "later" not found'
    for _ in range(100):
        if message in user.kubectl("get", "events", "--field-selector", "involvedObject.name=waits",
                                   "-o", "jsonpath={.items[*].message}"):
            break
        time.sleep(0.1)
    described = user.kubectl("describe", "pod", "waits")
    assert "FailedMount" in described and message in described
    assert user.pod("waits")["status"]["containerStatuses"][0]["state"] == {"waiting": {"reason": "ContainerCreating"}}
    user.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "later"}, "data": {"ready": "yes"}})
    pod = user.wait_done("waits")
    assert user.output(pod) == "yes"


def test_host_paths_and_a_claim_bound_to_a_host_path_volume(user: VolumesUser) -> None:
    made, stored, missing = user.home / "made-by-the-kubelet", user.home / "pv", user.home / "none"
    stored.mkdir()
    (stored / "seed").write_text("from-the-pv")
    user.apply({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "stored"},
                "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "",
                         "hostPath": {"path": str(stored), "type": "Directory"},
                         "claimRef": {"namespace": "default", "name": "claim"}}},
               {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "claim"},
                "spec": {"storageClassName": "", "volumeName": "stored", "accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": "1Gi"}}}})
    # no binder runs in this cluster: the claim is marked bound as the PV controller would mark it
    user.kubectl("patch", "pvc", "claim", "--subresource=status", "--type=merge", "-p", '{"status":{"phase":"Bound"}}')
    script = "cat /claim/seed; echo; echo written > /claim/out; echo host > /host/file; touch /frozen/x 2>/dev/null || echo ro"
    user.apply(_pod("claims", _container(script, volumeMounts=[
        {"name": "claim", "mountPath": "/claim"}, {"name": "host", "mountPath": "/host"},
        {"name": "frozen", "mountPath": "/frozen"}]), volumes=[
        {"name": "claim", "persistentVolumeClaim": {"claimName": "claim"}},
        {"name": "frozen", "persistentVolumeClaim": {"claimName": "claim", "readOnly": True}},
        {"name": "host", "hostPath": {"path": str(made), "type": "DirectoryOrCreate"}}]),
        _pod("no-file", _container("true", volumeMounts=[{"name": "missing", "mountPath": "/m"}]),
             volumes=[{"name": "missing", "hostPath": {"path": str(missing), "type": "File"}}]))
    pod = user.wait_done("claims")
    assert user.output(pod) == "from-the-pv\nro\n"
    assert (stored / "out").read_text() == "written\n" and (made / "file").read_text() == "host\n"
    message = f'MountVolume.SetUp failed for volume "missing" : hostPath {missing} doesn\'t exist'
    for _ in range(100):
        if message in user.kubectl("describe", "pod", "no-file"):
            break
        time.sleep(0.1)
    assert message in user.kubectl("describe", "pod", "no-file")
