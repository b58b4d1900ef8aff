"""LimitRanger: a namespace's LimitRanges give pods' containers default requests and limits (recorded in
an annotation) and refuse containers, pods and claims outside their bounds, with upstream's messages."""

from __future__ import annotations

import pytest
import yaml

from controller_testing import eventually

NS = "team"


def pod(name: str, *containers: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
            "spec": {"containers": list(containers) or [{"name": "c", "image": "nginx"}]}}


def container(name: str, requests: dict | None = None, limits: dict | None = None) -> dict:
    resources = {k: v for k, v in (("requests", requests), ("limits", limits)) if v}
    return {"name": name, "image": "nginx", "resources": resources}


def limit_range(*limits: dict) -> dict:
    return {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "limits", "namespace": NS},
            "spec": {"limits": list(limits)}}


def create(kubectl, obj: dict, check: bool = True):
    return kubectl.run("create", "-f", "-", input=yaml.safe_dump(obj), check=check)


def refusal(kubectl, obj: dict) -> str:
    answer = create(kubectl, obj, check=False)
    assert answer.returncode == 1, answer.stdout
    return answer.stderr.strip().partition("Error from server (Forbidden): error when creating \"STDIN\": ")[2]


@pytest.fixture
def team(kubectl):
    kubectl("create", "namespace", NS)


def test_container_defaults_and_bounds(api, kubectl, team):
    create(kubectl, limit_range({"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"},
                                 "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
                                 "max": {"cpu": "1"}, "min": {"cpu": "50m"}, "maxLimitRequestRatio": {"cpu": "5"}}))
    create(kubectl, pod("plain", container("c"), container("d", requests={"cpu": "200m"})))
    got = api.get(f"/api/v1/namespaces/{NS}/pods/plain")
    assert [c["resources"] for c in got["spec"]["containers"]] == [
        {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        {"requests": {"cpu": "200m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}]
    assert got["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container c; cpu, memory limit for container c; "
        "memory request for container d; cpu, memory limit for container d")

    assert refusal(kubectl, pod("big", container("c", limits={"cpu": "2"}))) == \
        'pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2'
    assert refusal(kubectl, pod("small", container("c", requests={"cpu": "10m"}, limits={"cpu": "20m"}))) == \
        'pods "small" is forbidden: minimum cpu usage per Container is 50m, but request is 10m'
    assert refusal(kubectl, pod("skewed", container("c", requests={"cpu": "100m"}, limits={"cpu": "1"}))) == \
        'pods "skewed" is forbidden: cpu max limit to request ratio per Container is 5, but provided ratio is ' \
        '10.000000'
    # several violations are listed together, each once (requests default to limits, limits to the default)
    assert refusal(kubectl, pod("two", container("a", limits={"cpu": "3"}), container("b", limits={"cpu": "3"}),
                                container("c", requests={"cpu": "10m"}))) == \
        'pods "two" is forbidden: [maximum cpu usage per Container is 1, but limit is 3, minimum cpu usage per ' \
        'Container is 50m, but request is 10m, cpu max limit to request ratio per Container is 5, but provided ' \
        'ratio is 50.000000]'


def test_pod_bounds_sum_the_containers(kubectl, team):
    create(kubectl, limit_range({"type": "Pod", "max": {"memory": "1Gi"}}))
    create(kubectl, pod("fits", container("a", limits={"memory": "512Mi"}), container("b", limits={"memory": "512Mi"})))
    assert refusal(kubectl, pod("over", container("a", limits={"memory": "600Mi"}),
                                container("b", limits={"memory": "600Mi"}))) == \
        'pods "over" is forbidden: maximum memory usage per Pod is 1Gi, but limit is 1200Mi'
    assert refusal(kubectl, pod("unbounded", container("a"))) == \
        'pods "unbounded" is forbidden: maximum memory usage per Pod is 1Gi.  No limit is specified'


def test_claim_storage_bounds(kubectl, team):
    create(kubectl, limit_range({"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"},
                                 "max": {"storage": "10Gi"}}))

    def claim(name: str, size: str) -> dict:
        return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": NS},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}}

    create(kubectl, claim("fits", "5Gi"))
    assert refusal(kubectl, claim("big", "20Gi")) == \
        'persistentvolumeclaims "big" is forbidden: maximum storage usage per PersistentVolumeClaim is 10Gi, ' \
        'but request is 20Gi'
    assert refusal(kubectl, claim("small", "500Mi")) == \
        'persistentvolumeclaims "small" is forbidden: minimum storage usage per PersistentVolumeClaim is 1Gi, ' \
        'but request is 500Mi'


def test_defaults_satisfy_a_quota_that_requires_requests(api, kubectl, team):
    """LimitRanger runs before ResourceQuota, so defaulted requests count against the quota."""
    create(kubectl, limit_range({"type": "Container", "defaultRequest": {"cpu": "300m"}}))
    kubectl("create", "quota", "q", "--hard=requests.cpu=500m", "-n", NS)
    quota = f"/api/v1/namespaces/{NS}/resourcequotas/q"
    eventually(lambda: (api.get(quota).get("status") or {}).get("used"))
    create(kubectl, pod("first"))
    assert refusal(kubectl, pod("second")) == 'pods "second" is forbidden: exceeded quota: q, requested: ' \
        'requests.cpu=300m, used: requests.cpu=300m, limited: requests.cpu=500m'
