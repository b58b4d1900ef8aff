"""Local clusters' pod networks: containerd clusters running at once get /16s of their own, clear of the
host's routes, and keep theirs across restarts."""

from __future__ import annotations

import ipaddress
import subprocess
import sys

import pytest

from timoneiro.cluster import pod_network


@pytest.fixture
def claims(tmp_path, monkeypatch):
    monkeypatch.setattr(pod_network, "host_routes", lambda: [ipaddress.ip_network("10.245.3.0/24"),
                                                            ipaddress.ip_network("192.168.0.0/16")])
    return tmp_path / "claims"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_clusters_at_once_get_networks_clear_of_routes_and_of_each_other(tmp_path, claims):
    first = pod_network.claim(str(tmp_path / "a"), claims=claims)
    second = pod_network.claim(str(tmp_path / "b"), pid=1, claims=claims)  # pid 1 lives as long as the machine
    assert (first, second) == ("10.244.0.0/16", "10.246.0.0/16")  # 10.245/16 overlaps a route
    assert (tmp_path / "a" / "pod-network").read_text() == "10.244.0.0/16\n"


def test_a_stopped_cluster_keeps_its_network_while_others_start(tmp_path, claims):
    data = str(tmp_path / "a")
    assert pod_network.claim(data, pid=_dead_pid(), claims=claims) == "10.244.0.0/16"  # died without releasing
    assert pod_network.claim(str(tmp_path / "b"), pid=1, claims=claims) == "10.246.0.0/16"
    assert pod_network.claim(data, claims=claims) == "10.244.0.0/16"
    pod_network.release(data, claims=claims)
    assert pod_network.claim(str(tmp_path / "c"), claims=claims) == "10.247.0.0/16"  # still a's, stopped


def test_a_stopped_clusters_network_is_lent_only_when_none_is_free(tmp_path, claims, monkeypatch):
    monkeypatch.setattr(pod_network, "CANDIDATES", pod_network.CANDIDATES[:3])  # 10.245/16 is routed
    stopped, running = str(tmp_path / "a"), str(tmp_path / "b")
    pod_network.claim(stopped, claims=claims)
    pod_network.release(stopped, claims=claims)
    pod_network.claim(running, pid=1, claims=claims)
    assert pod_network.claim(str(tmp_path / "c"), claims=claims) == "10.244.0.0/16"  # lent
    with pytest.raises(pod_network.PodNetworkTaken, match=r"pod network 10.244.0.0/16 is in use by another "
                                                          r"running cluster \(process \d+, .*/c\)"):
        pod_network.claim(stopped, claims=claims)
    with pytest.raises(pod_network.PodNetworkTaken, match="no pod network is free"):
        pod_network.claim(str(tmp_path / "d"), pid=1, claims=claims)


def test_a_deleted_data_dir_gives_its_network_back(tmp_path, claims):
    gone = tmp_path / "a"
    pod_network.claim(str(gone), claims=claims)
    pod_network.release(str(gone), claims=claims)
    (gone / "pod-network").unlink()
    gone.rmdir()
    assert pod_network.claim(str(tmp_path / "b"), claims=claims) == "10.244.0.0/16"


def test_host_routes_are_read_from_the_kernel():
    routes = pod_network.host_routes()
    assert all(route.prefixlen for route in routes)
    shown = subprocess.run(["ip", "-4", "route", "show", "table", "main"], capture_output=True, text=True).stdout
    expected = {ipaddress.ip_network(line.split()[0]) for line in shown.splitlines()
                if line and not line.startswith("default")}
    assert set(routes) == expected
