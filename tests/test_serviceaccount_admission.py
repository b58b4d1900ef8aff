"""ServiceAccount admission: the default account, the projected token volume and its mounts exactly as
upstream writes them, refusal of pods whose account does not exist, automount preferences, image pull
secrets, mountable-secret enforcement and mirror pods."""

from __future__ import annotations

import threading
import time

import pytest

from conftest import Kubectl, add_default_service_account
from controller_testing import Api, eventually
from timoneiro.apiserver.server import ServerThread

PODS = "/api/v1/namespaces/default/pods"
MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


@pytest.fixture
def bare(tmp_path):
    """A server without controllers: no `default` account appears unless a test makes one."""
    srv = ServerThread(str(tmp_path / "bare"), controllers=False).start()
    yield srv
    srv.stop()


@pytest.fixture
def bare_api(bare):
    api = Api(bare.admin)
    yield api
    api.close()


def pod(name: str, **spec) -> dict:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "nginx"}], **spec}}


def account(api: Api, name: str, **fields) -> None:
    api.post("/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": name}, **fields})


def test_pod_gets_the_default_account_and_upstreams_token_volume(server, kubectl, api):
    eventually(lambda: api.exists("/api/v1/namespaces/default/serviceaccounts/default"))
    created = api.post(PODS, pod("p", initContainers=[{"name": "init", "image": "busybox"}]))
    spec = created["spec"]
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "default"
    [volume] = spec["volumes"]
    name = volume["name"]
    assert name.startswith("kube-api-access-") and len(name) == len("kube-api-access-") + 5
    assert volume["projected"] == {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}
    mount = {"name": name, "readOnly": True, "mountPath": MOUNT_PATH}
    assert spec["containers"][0]["volumeMounts"] == [mount]
    assert spec["initContainers"][0]["volumeMounts"] == [mount]
    # kubectl shows them too, as it shows a pod of a real cluster
    shown = kubectl.json("get", "pod", "p")["spec"]
    assert shown["volumes"] == spec["volumes"]


def test_pod_with_a_missing_account_is_refused(server, kubectl):
    run = kubectl.run("run", "lost", "--image", "nginx", "--overrides",
                      '{"spec": {"serviceAccountName": "nobody"}}', check=False)
    assert run.returncode != 0
    assert 'Error from server (Forbidden): pods "lost" is forbidden: error looking up service account ' \
           'default/nobody: serviceaccount "nobody" not found' in run.stderr


def test_automount_preferences_of_pod_and_account(bare, bare_api):
    add_default_service_account(bare)
    account(bare_api, "quiet", automountServiceAccountToken=False)
    off = bare_api.post(PODS, pod("off", automountServiceAccountToken=False))["spec"]
    assert "volumes" not in off and "volumeMounts" not in off["containers"][0]
    quiet = bare_api.post(PODS, pod("quiet", serviceAccountName="quiet"))["spec"]
    assert "volumes" not in quiet and quiet["serviceAccountName"] == "quiet"
    pod_wins = bare_api.post(PODS, pod("wants", serviceAccountName="quiet", automountServiceAccountToken=True))
    assert pod_wins["spec"]["volumes"][0]["name"].startswith("kube-api-access-")


def test_own_mount_at_the_token_path_and_existing_token_volume_are_kept(bare, bare_api):
    add_default_service_account(bare)
    own = {"name": "mine", "mountPath": MOUNT_PATH}
    spec = bare_api.post(PODS, {"metadata": {"name": "own"}, "spec": {
        "volumes": [{"name": "mine", "emptyDir": {}}],
        "containers": [{"name": "a", "image": "nginx", "volumeMounts": [own]}, {"name": "b", "image": "nginx"}]}})["spec"]
    assert spec["containers"][0]["volumeMounts"] == [own]
    [added] = [v for v in spec["volumes"] if v["name"] != "mine"]
    assert spec["containers"][1]["volumeMounts"] == [{"name": added["name"], "readOnly": True, "mountPath": MOUNT_PATH}]


def test_image_pull_secrets_come_from_the_account(bare, bare_api):
    account(bare_api, "puller", imagePullSecrets=[{"name": "registry"}])
    spec = bare_api.post(PODS, pod("pulls", serviceAccountName="puller"))["spec"]
    assert spec["imagePullSecrets"] == [{"name": "registry"}]
    own = bare_api.post(PODS, pod("own", serviceAccountName="puller", imagePullSecrets=[{"name": "mine"}]))
    assert own["spec"]["imagePullSecrets"] == [{"name": "mine"}]


def test_enforced_mountable_secrets(bare, bare_api):
    account(bare_api, "strict", metadata={"name": "strict",
                                          "annotations": {"kubernetes.io/enforce-mountable-secrets": "true"}},
            secrets=[{"name": "allowed"}])
    env_from = [{"secretRef": {"name": "other"}}]
    refused = bare_api.post(PODS, {"metadata": {"name": "sneaky"}, "spec": {"serviceAccountName": "strict",
                            "containers": [{"name": "c", "image": "nginx", "envFrom": env_from}]}}, ok=(403,))
    assert refused["message"] == 'pods "sneaky" is forbidden: container c with envFrom referencing ' \
                                 'secret.secretName="other" is not allowed because service account strict does not ' \
                                 "reference that secret"
    volume = [{"name": "s", "secret": {"secretName": "other"}}]
    refused = bare_api.post(PODS, pod("vol", serviceAccountName="strict", volumes=volume), ok=(403,))
    assert refused["message"] == 'pods "vol" is forbidden: volume with secret.secretName="other" is not allowed ' \
                                 "because service account strict does not reference that secret"
    bare_api.post(PODS, pod("fine", serviceAccountName="strict",
                            volumes=[{"name": "s", "secret": {"secretName": "allowed"}}]))


def test_mirror_pods_are_left_alone_but_may_not_use_accounts(bare, bare_api):
    mirror = {"kubernetes.io/config.mirror": "hash"}
    left = bare_api.post(PODS, {"metadata": {"name": "static", "annotations": mirror},
                                "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx"}]}})
    assert "serviceAccountName" not in left["spec"] and "volumes" not in left["spec"]
    refused = bare_api.post(PODS, {"metadata": {"name": "sa", "annotations": mirror},
                                   "spec": {"serviceAccountName": "x", "containers": [{"name": "c", "image": "i"}]}},
                            ok=(403,))
    assert refused["message"] == 'pods "sa" is forbidden: a mirror pod may not reference service accounts'
    refused = bare_api.post(PODS, {"metadata": {"name": "secret", "annotations": mirror}, "spec": {
        "containers": [{"name": "c", "image": "i", "envFrom": [{"secretRef": {"name": "s"}}]}]}}, ok=(403,))
    assert refused["message"] == 'pods "secret" is forbidden: a mirror pod may not reference secrets'


def test_a_pod_waits_briefly_for_its_namespaces_default_account(bare, bare_api):
    """Upstream looks the default account up for a while before refusing: a pod created just before the
    controller makes the account is admitted, with its token volume."""
    answer: dict = {}
    creating = threading.Thread(target=lambda: answer.update(bare_api.post(PODS, pod("early"))))
    creating.start()
    time.sleep(0.3)  # within the ~1-2 s upstream keeps looking
    add_default_service_account(bare)
    creating.join()
    assert answer["spec"]["volumes"][0]["name"].startswith("kube-api-access-")


def test_without_the_default_account_pods_are_refused(bare, tmp_path):
    kubectl = Kubectl(tmp_path, bare.admin)
    run = kubectl.run("run", "orphan", "--image", "nginx", check=False)
    assert 'pods "orphan" is forbidden: error looking up service account default/default: serviceaccount ' \
           '"default" not found' in run.stderr
