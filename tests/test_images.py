"""Images on a `timoneiro up --runtime containerd` cluster, with the real kubectl: nginx (built from
Debian's package) under the names the seeds use, serving its welcome page on the pod IPs; an image pushed
to `timoneiro registry` runs (the seeds' custom-ECR-image flow); `timoneiro image load` puts an OCI
archive on every node for imagePullPolicy Never; a registry that wants credentials gives ErrImagePull
without the pod's imagePullSecrets and runs the pod with them."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from test_up_containerd import WORKERS, ContainerdUser, running
from timoneiro.images.oci import Entry, ImageSpec, write_layout
from timoneiro.images.registry import LocalRegistry
from timoneiro.images.rootfs import accounts, busybox_userland, merge

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("containerd"),
                                reason="containerd needs root and scripts/setup.sh's packages")


@pytest.fixture(scope="module")
def user() -> Iterator[ContainerdUser]:
    with running(ContainerdUser, "tm-img-") as u:
        yield u


def _web_image(text: str) -> ImageSpec:
    """busybox's httpd serving text on 8080: an image of the user's own."""
    files = [Entry("www"), Entry("www/index.html", text.encode(), 0o644)]
    return ImageSpec(merge(busybox_userland(), accounts([]), files), cmd=["httpd", "-f", "-p", "8080", "-h", "/www"])


def _pod(name: str, image: str, pull_policy: str = "IfNotPresent", **spec: object) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"containers": [{"name": "main", "image": image, "imagePullPolicy": pull_policy}], **spec}}


def _get(url: str) -> str:
    with httpx.Client(trust_env=False, timeout=5) as client:
        return client.get(url).text


def _waiting(user: ContainerdUser, name: str, reasons: set[str]) -> dict:
    """The pod's container state once it waits for one of reasons."""
    for _ in range(300):
        [pod] = user.pods(f"app={name}")
        for status in pod["status"].get("containerStatuses") or ():
            waiting = status.get("state", {}).get("waiting") or {}
            if waiting.get("reason") in reasons:
                return waiting
        time.sleep(0.2)
    raise AssertionError(f"pod {name} never waited with {reasons}: {user.kubectl('describe', 'pod', name)}")


def test_nginx_deployment_serves_the_welcome_page_on_every_pod_ip(user: ContainerdUser) -> None:
    user.kubectl("create", "deployment", "nginx", "--image=nginx", "--replicas", "3")
    pods = user.wait_running("app=nginx", 3)
    assert {p["spec"]["nodeName"] for p in pods} <= set(WORKERS)
    for pod in pods:
        assert "<title>Welcome to nginx!</title>" in _get(f"http://{pod['status']['podIP']}/")
        [status] = pod["status"]["containerStatuses"]
        assert status["imageID"].startswith("docker.io/library/nginx@sha256:")


def test_the_seeds_nginx_tags_run(user: ContainerdUser) -> None:
    user.apply(_pod("ecr-nginx", "public.ecr.aws/nginx/nginx:1.21-perl"), _pod("docs-nginx", "nginx:1.14.2"))
    for name in ("ecr-nginx", "docs-nginx"):
        [pod] = user.wait_running(f"app={name}", 1)
        assert "Welcome to nginx!" in _get(f"http://{pod['status']['podIP']}/")


def test_an_image_pushed_to_the_registry_runs(user: ContainerdUser, tmp_path: Path) -> None:
    registry = user.timoneiro("registry").stdout.strip()
    assert registry.startswith("localhost:")
    assert user.timoneiro("registry").stdout.strip() == registry  # the same port every time
    write_layout(tmp_path / "oci", _web_image("hello from my registry\n"), "hello:1.0")
    subprocess.run(["skopeo", "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false",
                    f"oci:{tmp_path / 'oci'}:hello:1.0", f"docker://{registry}/hello:1.0"], check=True)
    user.kubectl("create", "deployment", "hello", f"--image={registry}/hello:1.0")
    [pod] = user.wait_running("app=hello", 1)
    assert _get(f"http://{pod['status']['podIP']}:8080/") == "hello from my registry\n"


def test_image_load_side_loads_an_oci_archive_for_pull_policy_never(user: ContainerdUser, tmp_path: Path) -> None:
    user.apply(_pod("early", "side/loaded:1.0", "Never", nodeName=WORKERS[0]))
    waiting = _waiting(user, "early", {"ErrImageNeverPull"})
    assert waiting["message"] == 'Container image "side/loaded:1.0" is not present with pull policy of Never'

    layout = tmp_path / "oci"
    write_layout(layout, _web_image("side-loaded\n"), "side/loaded:1.0")
    with tarfile.open(tmp_path / "loaded.tar", "w") as tar:
        for path in sorted(layout.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(layout)), recursive=False)
    out = user.timoneiro("image", "load", str(tmp_path / "loaded.tar")).stdout
    assert 'Image: "docker.io/side/loaded:1.0" loaded on nodes' in out

    user.apply(*(_pod(f"loaded-{i}", "side/loaded:1.0", "Never", nodeName=node) for i, node in enumerate(WORKERS)))
    for i in range(len(WORKERS)):
        [pod] = user.wait_running(f"app=loaded-{i}", 1)
        assert _get(f"http://{pod['status']['podIP']}:8080/") == "side-loaded\n"


@pytest.fixture
def private_registry(tmp_path: Path) -> Iterator[LocalRegistry]:
    """A registry whose pulls need alice's password, holding private/hello:1.0."""
    htpasswd = tmp_path / "htpasswd"
    subprocess.run(["htpasswd", "-Bbc", str(htpasswd), "alice", "s3cret"], check=True, capture_output=True)
    registry = LocalRegistry(tmp_path / "registry", htpasswd=htpasswd)
    write_layout(tmp_path / "oci", _web_image("private\n"), "hello:1.0")

    async def start() -> None:
        await registry.start()
        await registry.push(tmp_path / "oci", "hello:1.0", "private/hello:1.0", credentials="alice:s3cret")

    try:
        asyncio.run(start())
        yield registry
    finally:
        asyncio.run(registry.stop())


def test_pulls_from_a_registry_with_credentials_need_the_pods_pull_secret(user: ContainerdUser,
                                                                        private_registry: LocalRegistry) -> None:
    image = f"{private_registry.name}/private/hello:1.0"
    user.apply(_pod("anonymous", image, imagePullSecrets=[{"name": "nosuch"}]))  # a Secret that is not there
    waiting = _waiting(user, "anonymous", {"ErrImagePull", "ImagePullBackOff"})
    if waiting["reason"] == "ImagePullBackOff":
        assert waiting["message"] == f'Back-off pulling image "{image}"'
    events = json.loads(user.kubectl("get", "events", "--field-selector", "involvedObject.name=anonymous",
                                     "-o", "json"))["items"]
    failed = [e["message"] for e in events if e["reason"] == "Failed"]
    assert any(m.startswith(f'Failed to pull image "{image}": rpc error: code = Unknown desc = failed to pull and '
                            f'unpack image "{image}"') and "401 Unauthorized" in m for m in failed), failed
    assert {e["message"] for e in events if e["reason"] == "FailedToRetrieveImagePullSecret"} == {
        "Unable to retrieve some image pull secrets (nosuch); attempting to pull the image may not succeed."}

    user.kubectl("create", "secret", "docker-registry", "regcred", f"--docker-server={private_registry.name}",
                 "--docker-username=alice", "--docker-password=s3cret")
    user.apply(_pod("signed-in", image, imagePullSecrets=[{"name": "regcred"}]))
    [pod] = user.wait_running("app=signed-in", 1)
    assert _get(f"http://{pod['status']['podIP']}:8080/") == "private\n"
