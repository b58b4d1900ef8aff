"""The kubelet's pure volume and container logic: $(VAR) expansion as upstream's, the atomic writer's
..data layout and updates, key payloads, downward API files, hostPath type checks, subPaths, emptyDir
sizes and security contexts merged from the pod and the container."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from test_kubelet import FAST, NODE, NS, eventually, phase_is, pod
from test_kubelet_events import recorded
from timoneiro.client.resources import CONFIGMAPS, PODS
from timoneiro.kubelet import Kubelet
from timoneiro.kubelet.container_env import format_map, metadata_field
from timoneiro.kubelet.expansion import command_and_args, expand, keeping_unknown, sub_path
from timoneiro.kubelet.runtime.base import Image, RuntimeFailure
from timoneiro.kubelet.security_context import fs_user, security_context, verify_run_as_non_root
from timoneiro.kubelet.volumes import atomic_writer, keys
from timoneiro.kubelet.volumes.atomic_writer import FileProjection
from timoneiro.kubelet.volumes.container_mounts import container_mounts
from timoneiro.kubelet.volumes.emptydir import memory_size
from timoneiro.kubelet.volumes.hostpath import check_type
from timoneiro.kubelet.volumes.plugin import MountedVolume, VolumeError, aggregate


@pytest.mark.parametrize(("text", "expanded"), [
    ("$(A)", "a"), ("$$(A)", "$(A)"), ("$$$(A)", "$a"), ("x$(C)y", "x$(C)y"), ("$(A", "$(A"), ("$(A$(A)", "never"),
    ("$x$(A)", "$xa"), ("$", "$"), ("a$", "a$"), ("$(B)", "$(A)"), ("$(A)$(A)", "aa"), ("a$$b", "a$b"),
    ("$()", "$()"), ("$(A)-$(B)", "a-$(A)"), ("$$", "$"), ("$$$$", "$$"), ("((A))", "((A))"),
])
def test_expansion_as_upstream(text: str, expanded: str) -> None:
    assert expand(text, keeping_unknown({"A": "a", "B": "$(A)", "A$(A": "never"})) == expanded


def test_command_and_args_see_the_last_value_of_a_name() -> None:
    assert command_and_args(["sh", "$(X)"], ["$(Y)", "$$(X)"], [("X", "1"), ("Y", "2"), ("X", "3")]) == \
        (["sh", "3"], ["2", "$(X)"])


def test_sub_path_expressions_need_every_value() -> None:
    assert sub_path("logs/$(POD)", [("POD", "web-0")]) == "logs/web-0"
    with pytest.raises(ValueError, match="missing value for A, B"):
        sub_path("$(B)/$(A)/$(C)", [("A", ""), ("C", "c")])


def test_the_atomic_writer_links_through_data_and_swaps_updates(tmp_path: Path) -> None:
    assert atomic_writer.write(tmp_path, {"a": FileProjection(b"1", 0o644), "dir/b": FileProjection(b"2", 0o400)})
    first = os.readlink(tmp_path / "..data")
    assert first.startswith("..") and (tmp_path / first).is_dir()
    assert os.readlink(tmp_path / "a") == "..data/a" and os.readlink(tmp_path / "dir") == "..data/dir"
    assert (tmp_path / "dir" / "b").read_bytes() == b"2"
    assert stat.S_IMODE((tmp_path / first / "dir" / "b").stat().st_mode) == 0o400
    assert not atomic_writer.write(tmp_path, {"a": FileProjection(b"1", 0o644), "dir/b": FileProjection(b"2", 0o400)})
    assert atomic_writer.write(tmp_path, {"a": FileProjection(b"changed", 0o644), "c": FileProjection(b"3", 0o644)})
    second = os.readlink(tmp_path / "..data")
    assert second != first and not (tmp_path / first).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["..data", second, "a", "c"])
    assert (tmp_path / "a").read_bytes() == b"changed"


@pytest.mark.parametrize(("path", "error"), [
    ("/abs", "must be relative path"), ("a/../b", "must not contain '..'"), ("..hidden", "must not start with '..'"),
    ("", "must not be empty"), ("x" * 256, "filenames must be less than or equal to 255 characters")])
def test_the_atomic_writer_refuses_bad_paths(tmp_path: Path, path: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        atomic_writer.write(tmp_path, {path: FileProjection(b"", 0o644)})


def test_key_payloads_take_items_modes_and_optional_keys() -> None:
    data = {"a": b"1", "b": b"2"}
    assert keys.payload(data, None, 0o644, False, "x") == {"a": FileProjection(b"1", 0o644),
                                                           "b": FileProjection(b"2", 0o644)}
    assert keys.payload(data, [{"key": "b", "path": "sub/b", "mode": 0o400}, {"key": "z", "path": "z"}], 0o600,
                        True, "x") == {"sub/b": FileProjection(b"2", 0o400)}
    with pytest.raises(VolumeError, match="^configmap references non-existent config key: z$"):
        keys.payload(data, [{"key": "z", "path": "z"}], 0o644, False, "configmap references non-existent config key")


def test_downward_api_fields_and_maps() -> None:
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u",
                        "labels": {"tier": "web", "app": 'say "hi"\n'}, "annotations": {}}}
    assert metadata_field(pod, "metadata.labels") == 'app="say \\"hi\\"\\n"\ntier="web"'
    assert metadata_field(pod, "metadata.labels['tier']") == "web"
    assert metadata_field(pod, "metadata.annotations") == ""
    assert (metadata_field(pod, "metadata.name"), metadata_field(pod, "metadata.uid")) == ("p", "u")
    assert format_map({"k": "tab\tand\x01"}) == 'k="tab\\tand\\x01"'
    with pytest.raises(ValueError, match="unsupported fieldPath: spec.nodeName"):
        metadata_field(pod, "spec.nodeName")
    assert aggregate(["one"]) == "one" and aggregate(["one", "two"]) == "[one, two]"


def test_host_path_types_as_upstream_checks_them(tmp_path: Path) -> None:
    check_type(str(tmp_path / "made" / "deep"), "DirectoryOrCreate")
    assert (tmp_path / "made" / "deep").is_dir()
    check_type(str(tmp_path / "file"), "FileOrCreate")
    assert (tmp_path / "file").is_file()
    check_type(str(tmp_path), "Directory")
    with pytest.raises(VolumeError, match=f"^hostPath type check failed: {tmp_path} is not a file, it's a Directory$"):
        check_type(str(tmp_path), "File")
    with pytest.raises(VolumeError, match=f"^hostPath {tmp_path}/none doesn't exist$"):
        check_type(str(tmp_path / "none"), "Directory")
    with pytest.raises(VolumeError, match="^Folder is an invalid volume type$"):
        check_type(str(tmp_path), "Folder")
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(tmp_path / "sock"))
        check_type(str(tmp_path / "sock"), "Socket")
        with pytest.raises(VolumeError, match="is not a directory, it's a Socket$"):
            check_type(str(tmp_path / "sock"), "DirectoryOrCreate")


def test_sub_paths_are_made_inside_the_volume_and_never_escape_it(tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    volume.mkdir(mode=0o777)
    (volume / "out").symlink_to(tmp_path)
    spec = {"name": "app", "volumeMounts": [{"name": "v", "mountPath": "/data", "subPathExpr": "$(POD)/logs"},
                                             {"name": "v", "mountPath": "etc", "readOnly": True}]}
    mounts = container_mounts(spec, {"v": MountedVolume(volume)}, [("POD", "web-0")])
    assert [(m.container_path, m.host_path, m.read_only) for m in mounts] == [
        ("/data", str(volume / "web-0" / "logs"), False), ("/etc", str(volume), True)]
    assert (volume / "web-0" / "logs").is_dir()
    for mount, error in (({"subPath": "out"}, 'failed to prepare subPath for volumeMount "v" of container "app"'),
                         ({"subPath": "/abs"}, "error SubPath `/abs` must not be an absolute path"),
                         ({"subPath": "a/../b"}, "unable to provision SubPath `a/../b`: must not contain '..'"),
                         ({"name": "nope"}, 'cannot find volume "nope" to mount into container "app"')):
        spec = {"name": "app", "volumeMounts": [{"name": "v", "mountPath": "/x", **mount}]}
        with pytest.raises(RuntimeFailure) as failed:
            container_mounts(spec, {"v": MountedVolume(volume, read_only=True)}, [])
        assert (failed.value.reason, failed.value.message) == ("CreateContainerConfigError", error)
    [forced] = container_mounts({"name": "app", "volumeMounts": [{"name": "v", "mountPath": "/c"}]},
                                {"v": MountedVolume(volume, read_only=True)}, [])
    assert forced.read_only


def test_memory_empty_dirs_take_the_smallest_of_their_limits() -> None:
    pod = {"spec": {"containers": [{"resources": {"limits": {"memory": "64Mi"}}},
                                   {"resources": {"limits": {"memory": "64Mi"}}}]}}
    allocatable = {"memory": "1Gi"}
    assert memory_size(pod, {}, allocatable) == 128 * 2**20
    assert memory_size(pod, {"sizeLimit": "16Mi"}, allocatable) == 16 * 2**20
    assert memory_size({"spec": {"containers": [{}]}}, {}, allocatable) == 2**30
    assert memory_size({"spec": {"containers": [{}]}}, {"sizeLimit": "2Gi"}, allocatable) == 2**30


def _pod(pod_context: dict, *contexts: dict) -> dict:
    return {"metadata": {"name": "p", "namespace": "ns", "uid": "u"},
            "spec": {"securityContext": pod_context,
                     "containers": [{"name": f"c{i}", "securityContext": c} for i, c in enumerate(contexts)]}}


def test_security_contexts_merge_the_pods_and_the_containers() -> None:
    pod = _pod({"runAsUser": 1000, "runAsGroup": 50, "fsGroup": 7, "supplementalGroups": [8, 9]},
               {"runAsUser": 2000, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}}, {})
    first = security_context(pod, pod["spec"]["containers"][0], None)
    assert (first.run_as_user, first.run_as_group, first.supplemental_groups) == (2000, 50, [7, 8, 9])
    assert (first.read_only_root_filesystem, first.no_new_privileges, first.privileged) == (True, True, False)
    assert (first.add_capabilities, first.drop_capabilities) == (["NET_ADMIN"], ["ALL"])
    second = security_context(pod, pod["spec"]["containers"][1], Image("i", [], [], 0, uid=33))
    assert (second.run_as_user, second.no_new_privileges) == (1000, False)
    unset = _pod({}, {})
    assert security_context(unset, unset["spec"]["containers"][0], Image("i", [], [], 0, uid=33)).run_as_user == 33
    named = security_context(unset, unset["spec"]["containers"][0], Image("i", [], [], 0, username="nginx"))
    assert (named.run_as_user, named.run_as_username) == (None, "nginx")
    assert security_context(unset, unset["spec"]["containers"][0], None).run_as_user == 0  # no user: root
    assert (fs_user(pod), fs_user(_pod({"runAsUser": 5}, {}, {})), fs_user(_pod({}, {"runAsUser": 5}, {}))) == \
        (None, 5, None)


@pytest.mark.parametrize(("pod_context", "context", "uid", "username", "error"), [
    ({"runAsNonRoot": True}, {}, 0, "", 'container has runAsNonRoot and image will run as root (pod: "p_ns(u)", '
                                        "container: c0)"),
    ({"runAsNonRoot": True}, {"runAsUser": 0}, 5, "", "container's runAsUser breaks non-root policy "
                                                      '(pod: "p_ns(u)", container: c0)'),
    ({}, {"runAsNonRoot": True}, None, "app", "container has runAsNonRoot and image has non-numeric user (app), "
                                              'cannot verify user is non-root (pod: "p_ns(u)", container: c0)'),
    ({"runAsNonRoot": True}, {}, 1000, "", None),
    ({"runAsNonRoot": True, "runAsUser": 0}, {"runAsUser": 10}, 0, "", None),
    ({"runAsNonRoot": True}, {"runAsNonRoot": False}, 0, "", None),
])
def test_run_as_non_root_as_upstream_checks_it(pod_context: dict, context: dict, uid: int | None, username: str,
                                               error: str | None) -> None:
    pod = _pod(pod_context, context)
    if error is None:
        verify_run_as_non_root(pod, pod["spec"]["containers"][0], uid, username)
        return
    with pytest.raises(RuntimeFailure) as failed:
        verify_run_as_non_root(pod, pod["spec"]["containers"][0], uid, username)
    assert (failed.value.reason, failed.value.message) == ("CreateContainerConfigError", error)


async def test_a_missing_config_map_keeps_a_simulated_pod_creating_until_it_comes(server, client) -> None:
    kubelet = Kubelet(server.admin, NODE, pod_cidr="10.244.7.0/24", settings=FAST)
    await kubelet.start()
    try:
        volumes = [{"name": "config", "configMap": {"name": "later"}},
                   {"name": "maybe", "secret": {"secretName": "absent", "optional": True}}]
        await client.create(PODS, pod("waits", volumes=volumes), NS)
        await recorded(client, "waits", "FailedMount",
                       'MountVolume.SetUp failed for volume "config" : configmap "later" not found')
        status = (await client.get(PODS, "waits", NS))["status"]
        assert status["phase"] == "Pending"
        assert status["containerStatuses"][0]["state"] == {"waiting": {"reason": "ContainerCreating"}}
        await client.create(CONFIGMAPS, {"metadata": {"name": "later"}, "data": {"k": "v"}}, NS)
        await eventually(lambda: phase_is(client, "waits", "Running"))
    finally:
        await kubelet.stop()
