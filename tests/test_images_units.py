"""The parts of images and pull credentials that need no cluster: the keyring made of imagePullSecrets (as
upstream's credentialprovider matches registries), the nginx image's files, the registry's port kept across
restarts and its htpasswd auth, and what `image load` reads from archives."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import httpx
import pytest

from timoneiro.images import local
from timoneiro.images.nginx import nginx_image
from timoneiro.images.oci import ImageSpec, layer_tar, write_layout
from timoneiro.images.registry import LocalRegistry
from timoneiro.images.rootfs import shared_libraries
from timoneiro.images.side_load import LoadError, inspect, load
from timoneiro.kubelet.image_credentials import KeyringError, credentials, is_default_registry
from timoneiro.kubelet.runtime.base import AuthConfig
from timoneiro.kubelet.runtime.image_names import repository


def _secret(auths: dict, kind: str = "kubernetes.io/dockerconfigjson", key: str = ".dockerconfigjson") -> dict:
    payload = {"auths": auths} if kind == "kubernetes.io/dockerconfigjson" else auths
    return {"metadata": {"name": "regcred"}, "type": kind,
            "data": {key: base64.b64encode(json.dumps(payload).encode()).decode()}}


def _auth(user: str, password: str) -> dict:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_repository_of_an_image_is_its_full_name_without_tag_or_digest() -> None:
    assert repository("nginx:1.14.2") == "docker.io/library/nginx"
    assert repository("localhost:5001/app:1.0") == "localhost:5001/app"
    assert repository("public.ecr.aws/nginx/nginx@sha256:" + "0" * 64) == "public.ecr.aws/nginx/nginx"


def test_keyring_matches_host_port_and_path_prefix() -> None:
    secret = _secret({"localhost:5001": _auth("alice", "s3cret"), "http://example.com/v2/": _auth("bob", "b"),
                      "registry.example.com/team": {"username": "carol", "password": "c"}})
    assert credentials([secret], "localhost:5001/app") == [AuthConfig(username="alice", password="s3cret")]
    assert credentials([secret], "localhost:5002/app") == []  # another port
    assert credentials([secret], "example.com/app") == [AuthConfig(username="bob", password="b")]
    assert credentials([secret], "registry.example.com/team/app") == [AuthConfig(username="carol", password="c")]
    assert credentials([secret], "registry.example.com/other/app") == []


def test_keyring_globs_match_one_host_part_and_more_specific_keys_come_first() -> None:
    secret = _secret({"*.example.com": _auth("any", "1"), "a.example.com/team": _auth("team", "2")})
    assert [c.username for c in credentials([secret], "a.example.com/team/app")] == ["team", "any"]
    assert credentials([secret], "a.b.example.com/app") == []  # * is one dot-separated part


def test_docker_hub_images_take_the_credentials_of_index_docker_io() -> None:
    secret = _secret({"https://index.docker.io/v1/": _auth("hub", "h")})
    assert credentials([secret], repository("nginx")) == [AuthConfig(username="hub", password="h")]
    assert credentials([secret], "localhost:5001/nginx") == []
    assert is_default_registry("library/nginx") and is_default_registry("docker.io/library/nginx")
    assert not is_default_registry("quay.io/app") and not is_default_registry("localhost:5001/app")


def test_every_pull_secret_adds_its_credentials_and_other_secrets_none() -> None:
    legacy = _secret({"localhost:5001": _auth("old", "o")}, "kubernetes.io/dockercfg", ".dockercfg")
    opaque = {"metadata": {"name": "x"}, "type": "Opaque", "data": {"password": "eA=="}}
    current = _secret({"localhost:5001": _auth("new", "n")})
    assert [c.username for c in credentials([legacy, opaque, current], "localhost:5001/app")] == ["old", "new"]


def test_a_pull_secret_that_is_not_a_docker_config_fails_the_pull() -> None:
    broken = {"metadata": {"name": "bad"}, "type": "kubernetes.io/dockerconfigjson",
              "data": {".dockerconfigjson": base64.b64encode(b"{not json").decode()}}
    with pytest.raises(KeyringError, match="is not JSON"):
        credentials([broken], "localhost:5001/app")
    with pytest.raises(KeyringError, match="username:password"):
        credentials([_secret({"localhost:5001": {"auth": base64.b64encode(b"nocolon").decode()}})], "localhost:5001/a")


def _layer_files(spec: ImageSpec) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(layer_tar(spec.entries))) as tar:
        return {member.name: member for member in tar.getmembers()}


def test_the_nginx_image_has_debians_nginx_with_its_libraries_the_welcome_page_and_logs_to_stdio() -> None:
    spec = nginx_image()
    files = _layer_files(spec)
    nginx = shutil.which("nginx", path="/usr/sbin:/usr/bin")
    assert nginx and nginx.lstrip("/") in files
    for library in shared_libraries(Path(nginx)):
        assert str(library).lstrip("/") in files, library
    page = next(e.data for e in spec.entries if e.path == "usr/share/nginx/html/index.html")
    assert b"<title>Welcome to nginx!</title>" in page
    server = next(e.data for e in spec.entries if e.path == "etc/nginx/conf.d/default.conf")
    assert b"listen       80;" in server
    assert files["var/log/nginx/access.log"].linkname == "/dev/stdout"
    assert files["var/log/nginx/error.log"].linkname == "/dev/stderr"
    assert spec.cmd == ["nginx", "-g", "daemon off;"] and spec.stop_signal == "SIGQUIT"
    assert "nginx:x:101:101:" in next(e.data for e in spec.entries if e.path == "etc/passwd").decode()


def test_the_official_nginx_names_the_seeds_use_are_pushed() -> None:
    names = local.official_names({"busybox": "busybox:1.35.0", "nginx": "nginx:1.22.1", "pause": "pause:3.10"})
    for wanted in ("library/nginx:latest", "library/nginx:1.14.2", "nginx/nginx:1.21-perl", "library/busybox:1.35.0"):
        assert wanted in names
    assert names["nginx/nginx:1.21-perl"] == "nginx:1.22.1"


def test_the_registry_keeps_its_port_and_does_not_push_an_image_it_has(tmp_path: Path) -> None:
    layout = tmp_path / "oci"
    write_layout(layout, local.busybox_image(), "busybox:test")

    async def scenario() -> tuple[int, int, float]:
        first = LocalRegistry(tmp_path / "registry")
        await first.start()
        try:
            await first.push(layout, "busybox:test", "team/box:1")
        finally:
            await first.stop()
        second = LocalRegistry(tmp_path / "registry")
        await second.start()
        try:
            pushed = (tmp_path / "registry" / "pushed.json").stat().st_mtime
            await second.push(layout, "busybox:test", "team/box:1")  # there already: no skopeo run
            async with httpx.AsyncClient(trust_env=False) as client:
                tags = (await client.get(f"{second.url}/v2/team/box/tags/list")).json()["tags"]
            assert tags == ["1"]
            return first.port, second.port, pushed - (tmp_path / "registry" / "pushed.json").stat().st_mtime
        finally:
            await second.stop()

    first_port, second_port, rewritten = asyncio.run(scenario())
    assert first_port == second_port
    assert rewritten == 0


def test_a_stopped_registrys_port_stays_its_own_while_others_start(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, int, int]:
        stopped = LocalRegistry(tmp_path / "a")
        await stopped.start()
        await stopped.stop()
        other = LocalRegistry(tmp_path / "b")  # started while the first is down
        await other.start()
        again = LocalRegistry(tmp_path / "a")
        try:
            await again.start()
            return stopped.port, other.port, again.port
        finally:
            await other.stop()
            await again.stop()

    first, other, again = asyncio.run(scenario())
    assert first == again != other


def test_a_registry_with_htpasswd_refuses_anonymous_clients(tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    subprocess.run(["htpasswd", "-Bbc", str(htpasswd), "alice", "s3cret"], check=True, capture_output=True)

    async def scenario() -> tuple[int, int]:
        registry = LocalRegistry(tmp_path / "registry", htpasswd=htpasswd)
        await registry.start()
        try:
            async with httpx.AsyncClient(trust_env=False) as client:
                anonymous = (await client.get(f"{registry.url}/v2/")).status_code
                signed_in = (await client.get(f"{registry.url}/v2/", auth=("alice", "s3cret"))).status_code
            return anonymous, signed_in
        finally:
            await registry.stop()

    assert asyncio.run(scenario()) == (401, 200)


def _oci_archive(layout: Path, archive: Path) -> None:
    with tarfile.open(archive, "w") as tar:
        for path in sorted(layout.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(layout)), recursive=False)


def test_image_load_reads_names_from_oci_layouts_and_archives(tmp_path: Path) -> None:
    layout = tmp_path / "oci"
    write_layout(layout, local.busybox_image(), "example.com/team/box:1.0")
    assert inspect(layout).names == ["example.com/team/box:1.0"]
    _oci_archive(layout, tmp_path / "box.tar")
    found = inspect(tmp_path / "box.tar")
    assert (found.kind, found.names) == ("oci-archive", ["example.com/team/box:1.0"])
    subprocess.run(["skopeo", "--insecure-policy", "copy", "--quiet", "oci:" + str(layout) + ":example.com/team/box:1.0",
                    f"docker-archive:{tmp_path / 'saved.tar'}:box:2.0"], check=True, capture_output=True)
    saved = inspect(tmp_path / "saved.tar")
    assert (saved.kind, saved.names) == ("docker-archive", ["docker.io/library/box:2.0"])

    tagged = tmp_path / "tagged"
    write_layout(tagged, local.busybox_image(), "1.0")  # a tag alone names no repository
    with pytest.raises(LoadError, match="give it one with --image-name"):
        asyncio.run(load(tagged, []))
    with pytest.raises(LoadError, match="neither"):
        (tmp_path / "plain.txt").write_text("hello")
        inspect(tmp_path / "plain.txt")
