"""The Deployment controller against a real API server and the real kubectl: ReplicaSets named by
upstream's pod-template-hash, rolling updates within maxSurge/maxUnavailable at every step (watched),
Recreate, history, undo, scale, pause/resume, status and conditions. Pods are made ready by the test."""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path

import pytest

from controller_testing import Api, eventually, http_client
from pod_progress import run_pod
from timoneiro.apiserver.server import ServerThread
from timoneiro.client import Client, ClientConfig
from timoneiro.client.informer import InformerFactory
from timoneiro.controllers.deployment import DeploymentController
from timoneiro.controllers.pods import is_ready
from timoneiro.controllers.template_hash import compute_hash, safe_encode

NS = "default"
DEPLOY = f"/apis/apps/v1/namespaces/{NS}/deployments"
RS = f"/apis/apps/v1/namespaces/{NS}/replicasets"
PODS = f"/api/v1/namespaces/{NS}/pods"
SEED = Path(__file__).parent / "manifests" / "seed000.yaml"


class PodWatch:
    """Follows the namespace's pods from a watch, making new pods ready (unless held) and keeping the
    most pods alive and the fewest ready seen after any event once `armed`; and its ReplicaSets, keeping
    the most replicas they asked for together. That sum is what maxSurge bounds: pods may briefly outnumber
    it while a ReplicaSet controller has yet to delete what its set was scaled down by, upstream too."""

    def __init__(self, api: Api, config: ClientConfig) -> None:
        self.api, self.config = api, config
        self.pods: dict[str, dict] = {}
        self.sets: dict[str, int] = {}
        self.hold = False
        self.armed = False
        self.most_alive, self.most_planned, self.fewest_ready = 0, 0, 10**6
        self.images_together = False  # pods of two templates alive at once (Recreate forbids it)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._watch, args=(path, handle), daemon=True)
                         for path, handle in ((PODS, self._on_pod), (RS, self._on_set))]
        self._lock = threading.Lock()

    def __enter__(self) -> PodWatch:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)

    def arm(self) -> None:
        with self._lock:
            self.armed = True
            self.most_alive, self.fewest_ready = 0, 10**6
            self.most_planned = sum(self.sets.values())

    def _watch(self, path: str, handle) -> None:
        with http_client(self.config, timeout=None) as http, \
                http.stream("GET", path, params={"watch": "true"}) as stream:
            for line in stream.iter_lines():
                if self._stop.is_set():
                    return
                event = json.loads(line)
                with self._lock:
                    handle(event["type"], event["object"])

    def _on_pod(self, kind: str, pod: dict) -> None:
        name = pod["metadata"]["name"]
        if kind == "DELETED" or pod["metadata"].get("deletionTimestamp"):
            self.pods.pop(name, None)
        else:
            self.pods[name] = pod
        self._observe()
        if kind == "ADDED" and not self.hold:
            threading.Timer(0.05, self._make_ready, (name,)).start()

    def _on_set(self, kind: str, rs: dict) -> None:
        if kind == "DELETED":
            self.sets.pop(rs["metadata"]["name"], None)
        else:
            self.sets[rs["metadata"]["name"]] = rs["spec"].get("replicas", 1)
        if self.armed:
            self.most_planned = max(self.most_planned, sum(self.sets.values()))

    def _observe(self) -> None:
        if not self.armed:
            return
        alive = list(self.pods.values())
        self.most_alive = max(self.most_alive, len(alive))
        self.fewest_ready = min(self.fewest_ready, sum(is_ready(p) for p in alive))
        images = {p["spec"]["containers"][0]["image"] for p in alive}
        self.images_together = self.images_together or len(images) > 1

    def _make_ready(self, name: str) -> None:
        with contextlib.suppress(AssertionError):  # deleted meanwhile
            run_pod(self.api, NS, name)


def deployment(name: str, replicas: int, **spec: object) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}, **spec}}


def sets_of(api: Api, name: str) -> list[dict]:
    uid = api.get(f"{DEPLOY}/{name}")["metadata"]["uid"]
    return sorted((rs for rs in api.get(RS)["items"]
                   if any(r["uid"] == uid for r in rs["metadata"].get("ownerReferences") or ())),
                  key=lambda rs: int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]))


def wait_rolled_out(kubectl, name: str) -> str:
    return kubectl("rollout", "status", f"deployment/{name}", "--timeout=30s")


def test_hash_encoding():
    assert safe_encode("4081512345") == "84d5956789"  # rune % 27 indexes the alphabet: "0" is 48 -> "4"
    template = {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx", "resources": {"limits": {"cpu": "100m"}}}]}}
    assert compute_hash(template) == compute_hash(json.loads(json.dumps(template)))
    assert compute_hash(template) != compute_hash(template, 1)
    assert compute_hash(template, 1) != compute_hash(template, 2)


def test_seed_manifest_rolls_out(api, kubectl, server):
    with PodWatch(api, server.admin):
        kubectl("apply", "-f", str(SEED))
        d = api.get(f"{DEPLOY}/helloworld")
        pod_hash = compute_hash(d["spec"]["template"])
        rs = eventually(lambda: api.get(f"{RS}/helloworld-{pod_hash}", ok=(404,)).get("spec"))
        rs = api.get(f"{RS}/helloworld-{pod_hash}")
        assert rs["metadata"]["labels"] == {"run": "helloworld-backend", "pod-template-hash": pod_hash}
        assert rs["spec"]["selector"]["matchLabels"] == {"run": "helloworld-backend", "pod-template-hash": pod_hash}
        assert rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == pod_hash
        ann = rs["metadata"]["annotations"]
        assert (ann["deployment.kubernetes.io/revision"], ann["deployment.kubernetes.io/desired-replicas"],
                ann["deployment.kubernetes.io/max-replicas"]) == ("1", "2", "3")
        ref = rs["metadata"]["ownerReferences"][0]
        assert (ref["kind"], ref["name"], ref["controller"], ref["blockOwnerDeletion"]) == (
            "Deployment", "helloworld", True, True)
        out = wait_rolled_out(kubectl, "helloworld")
    assert 'deployment "helloworld" successfully rolled out' in out
    pods = [p for p in api.get(PODS)["items"] if p["metadata"]["name"].startswith(f"helloworld-{pod_hash}-")]
    assert len(pods) == 2
    status = api.get(f"{DEPLOY}/helloworld")["status"]
    assert {k: status.get(k) for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
                                       "observedGeneration")} == {
        "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2, "observedGeneration": 1}
    conditions = {c["type"]: c for c in status["conditions"]}
    assert (conditions["Available"]["status"], conditions["Available"]["reason"]) == ("True", "MinimumReplicasAvailable")
    assert (conditions["Progressing"]["reason"], conditions["Progressing"]["message"]) == (
        "NewReplicaSetAvailable", f'ReplicaSet "helloworld-{pod_hash}" has successfully progressed.')
    events = [e["message"] for e in api.get(f"/api/v1/namespaces/{NS}/events")["items"]
              if e["reason"] == "ScalingReplicaSet"]
    assert events == [f"Scaled up replica set helloworld-{pod_hash} to 2"]


def test_rolling_update_respects_surge_and_unavailability(api, kubectl, server):
    body = deployment("web", 4, strategy={"type": "RollingUpdate",
                                          "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}})
    with PodWatch(api, server.admin) as watch:
        api.post(DEPLOY, body)
        wait_rolled_out(kubectl, "web")
        watch.arm()
        kubectl("set", "image", "deployment/web", "c=nginx:2")
        wait_rolled_out(kubectl, "web")
        assert watch.most_planned == 5, watch.most_planned  # surged, never beyond
        assert watch.fewest_ready >= 3, watch.fewest_ready
    old, new = sets_of(api, "web")
    assert (old["spec"]["replicas"], new["spec"]["replicas"]) == (0, 4)
    assert new["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:2"
    history = kubectl("rollout", "history", "deployment/web")
    assert "REVISION" in history and "1 " in history and "2 " in history


def _owned_set(d: dict, template: dict, replicas: int, available: int, revision: int) -> dict:
    pod_hash = compute_hash(template)
    template = json.loads(json.dumps(template))
    template["metadata"]["labels"]["pod-template-hash"] = pod_hash
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{d['metadata']['name']}-{pod_hash}", "labels": template["metadata"]["labels"],
                         "annotations": {"deployment.kubernetes.io/revision": str(revision),
                                         "deployment.kubernetes.io/desired-replicas": "4",
                                         "deployment.kubernetes.io/max-replicas": "5"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "controller": True,
                                              "name": d["metadata"]["name"], "uid": d["metadata"]["uid"]}]},
            "spec": {"replicas": replicas, "selector": {"matchLabels": template["metadata"]["labels"]},
                     "template": template},
            "status": {"replicas": available, "readyReplicas": available, "availableReplicas": available}}


async def test_a_stale_status_never_scales_an_old_set_back_up(tmp_path):
    """An old set just scaled down from 3 to 2 whose status still counts 3 available pods: cleaning up
    its unhealthy pods must not size it back to 3 (which, beside a new set of 3, passes maxSurge), as
    upstream's controller refuses that step."""
    srv = ServerThread(str(tmp_path / "data"), controllers=False).start()
    api = Api(srv.admin)
    try:
        body = deployment("web", 4, strategy={"type": "RollingUpdate",
                                              "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}})
        old_template = body["spec"]["template"]
        body["spec"]["template"] = json.loads(json.dumps(old_template))
        body["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
        d = api.post(DEPLOY, body)
        for rs in (_owned_set(d, old_template, 2, 3, 1), _owned_set(d, body["spec"]["template"], 3, 3, 2)):
            made = api.post(RS, rs)
            api.put(f"{RS}/{made['metadata']['name']}/status", {**made, "status": rs["status"]})
        async with Client(srv.admin) as client:
            informers = InformerFactory(client)
            controller = DeploymentController(client, informers)
            informers.start()
            try:
                assert await informers.wait_for_sync(10)
                with pytest.raises(RuntimeError, match=r"got invalid request to scale down default/web-\w+ 2 -> 3"):
                    await controller.sync("default/web")
            finally:
                await informers.stop()
        assert [rs["spec"]["replicas"] for rs in sets_of(api, "web")] == [2, 3]
    finally:
        api.close()
        srv.stop()


def test_undo_scale_pause_resume(api, kubectl, server):
    with PodWatch(api, server.admin):
        api.post(DEPLOY, deployment("web", 2))
        wait_rolled_out(kubectl, "web")
        kubectl("set", "image", "deployment/web", "c=nginx:2")
        wait_rolled_out(kubectl, "web")
        kubectl("rollout", "undo", "deployment/web")
        wait_rolled_out(kubectl, "web")
        first, second = sets_of(api, "web")
        assert first["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:2"  # revision 2: now old
        assert second["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
        assert second["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
        assert (first["spec"]["replicas"], second["spec"]["replicas"]) == (0, 2)

        kubectl("scale", "deployment/web", "--replicas=5")
        wait_rolled_out(kubectl, "web")
        assert sets_of(api, "web")[-1]["spec"]["replicas"] == 5

        kubectl("rollout", "pause", "deployment/web")
        eventually(lambda: api.get(f"{DEPLOY}/web")["status"]["conditions"][-1]["reason"] == "DeploymentPaused")
        kubectl("set", "image", "deployment/web", "c=nginx:3")
        eventually(lambda: api.get(f"{DEPLOY}/web")["status"].get("observedGeneration")
                   == api.get(f"{DEPLOY}/web")["metadata"]["generation"])
        assert len(sets_of(api, "web")) == 2  # paused: no new ReplicaSet
        kubectl("rollout", "resume", "deployment/web")
        wait_rolled_out(kubectl, "web")
        sets = sets_of(api, "web")
        assert len(sets) == 3 and sets[-1]["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:3"


def test_recreate_never_runs_both_templates(api, kubectl, server):
    with PodWatch(api, server.admin) as watch:
        api.post(DEPLOY, deployment("web", 3, strategy={"type": "Recreate"}))
        wait_rolled_out(kubectl, "web")
        watch.arm()
        kubectl("set", "image", "deployment/web", "c=nginx:2")
        wait_rolled_out(kubectl, "web")
        assert not watch.images_together
        assert watch.most_alive == 3


def test_revision_history_limit_and_deadline(api, kubectl, server):
    with PodWatch(api, server.admin) as watch:
        api.post(DEPLOY, deployment("web", 1, revisionHistoryLimit=1, progressDeadlineSeconds=2))
        wait_rolled_out(kubectl, "web")
        for image in ("nginx:2", "nginx:3"):
            kubectl("set", "image", "deployment/web", f"c={image}")
            wait_rolled_out(kubectl, "web")
        eventually(lambda: len(sets_of(api, "web")) == 2)
        watch.hold = True
        kubectl("set", "image", "deployment/web", "c=nginx:4")
        proc = kubectl.run("rollout", "status", "deployment/web", "--timeout=20s", check=False)
    assert proc.returncode != 0 and 'deployment "web" exceeded its progress deadline' in proc.stderr
    cond = next(c for c in api.get(f"{DEPLOY}/web")["status"]["conditions"] if c["type"] == "Progressing")
    assert (cond["status"], cond["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert cond["message"].endswith("has timed out progressing.")
