"""`timoneiro certs check-expiration` and `timoneiro certs renew`: the dates shown are the files', renewal
re-issues each certificate (new key and serial, same subject and names, same CA), and a restarted server
serves the renewed certificate and accepts the renewed admin.conf from kubectl."""

from __future__ import annotations

import datetime as dt
import os
import ssl
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from conftest import KUBECTL
from timoneiro.apiserver.server import ServerThread
from timoneiro.cli.certs import short_human_duration
from timoneiro.cli.main import main
from timoneiro.pki import certs
from timoneiro.pki.cluster import ClusterPKI
from timoneiro.pki.renewal import CertificateManager

KUBEADM_SET = ["admin.conf", "apiserver", "apiserver-kubelet-client", "controller-manager.conf",
               "front-proxy-client", "scheduler.conf", "super-admin.conf"]
RENEWED_ALL = [
    "certificate embedded in the kubeconfig file for the admin to use and for kubeadm itself renewed",
    "certificate for serving the Kubernetes API renewed",
    "certificate for the API server to connect to kubelet renewed",
    "certificate embedded in the kubeconfig file for the controller manager to use renewed",
    "certificate for the front proxy client renewed",
    "certificate embedded in the kubeconfig file for the scheduler manager to use renewed",
    "certificate embedded in the kubeconfig file for the super-admin renewed",
    "certificate embedded in the kubeconfig file for the kubelet on node node-1 renewed",
    "",
    "Done renewing certificates. You must restart the kube-apiserver, kube-controller-manager and "
    "kube-scheduler, so that they can use the new certificates.",
]


def run_certs(capsys, *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        main(["certs", *args])
    captured = capsys.readouterr()
    return done.value.code, captured.out + captured.err


def make_pki(directory: str) -> None:
    pki = ClusterPKI(directory)
    pki.ensure("https://127.0.0.1:6443")
    pki.node_config("node-1", "https://127.0.0.1:6443")


def certificates(directory: str) -> dict[str, x509.Certificate]:
    manager = CertificateManager(directory)
    return {r.name: r.read() for r in manager.certificates()}


def ca_files(directory: str) -> dict[str, bytes]:
    return {name: (Path(directory) / "pki" / f"{name}.crt").read_bytes() for name in ("ca", "front-proxy-ca")}


def expires(cert: x509.Certificate) -> str:
    return cert.not_valid_after_utc.strftime("%b %d, %Y %H:%M UTC")


def test_check_expiration_prints_kubeadms_tables_with_the_files_dates(tmp_path, capsys):
    data = str(tmp_path)
    make_pki(data)
    code, out = run_certs(capsys, "check-expiration", "--data-dir", data)
    assert code == 0
    leaves, cas = out.rstrip("\n").split("\n\n")
    lines = leaves.splitlines()
    assert lines[0] == ("CERTIFICATE                EXPIRES                  RESIDUAL TIME   CERTIFICATE AUTHORITY"
                        "   EXTERNALLY MANAGED")
    files = certificates(data)
    assert [line.split()[0] for line in lines[1:]] == [*KUBEADM_SET, "kubelets/node-1.conf"]
    for line in lines[1:]:
        name = line.split()[0]
        ca = "front-proxy-ca" if name == "front-proxy-client" else "ca"
        assert line == f"{name:<27}{expires(files[name]):<25}{'364d':<16}{ca:<24}no      "
    pki = ClusterPKI(data)
    lines = cas.splitlines()
    assert lines[0] == "CERTIFICATE AUTHORITY   EXPIRES                  RESIDUAL TIME   EXTERNALLY MANAGED"
    assert lines[1:] == [f"{ca:<24}{expires(pki.authority(ca).cert):<25}{'9y':<16}no      "
                         for ca in ("ca", "front-proxy-ca")]


def test_renew_all_reissues_every_certificate_and_a_restarted_server_takes_them(tmp_path, capsys):
    data = str(tmp_path / "data")
    srv = ServerThread(data, controllers=False).start()
    port = srv.port
    try:
        srv.node("node-1")
    finally:
        srv.stop()
    before = certificates(data)
    ca_before = ca_files(data)

    code, out = run_certs(capsys, "renew", "all", "--data-dir", data)
    assert code == 0
    assert out.splitlines()[:len(RENEWED_ALL)] == RENEWED_ALL

    after = certificates(data)
    assert after.keys() == before.keys()
    pki = ClusterPKI(data)
    for name, old in before.items():
        new = after[name]
        assert new.serial_number != old.serial_number, name
        assert new.public_key() != old.public_key(), name
        assert new.subject == old.subject, name
        assert certs.subject_alt_names(new) == certs.subject_alt_names(old), name
        assert new.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == \
            old.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value, name
        new.verify_directly_issued_by(pki.authority("front-proxy-ca" if name == "front-proxy-client" else "ca").cert)
    assert ca_files(data) == ca_before

    srv = ServerThread(data, port=port, controllers=False).start()
    try:
        served = x509.load_pem_x509_certificate(ssl.get_server_certificate(("127.0.0.1", port)).encode())
        assert served.serial_number == after["apiserver"].serial_number
        home = tmp_path / "home"
        home.mkdir()
        env = {**os.environ, "HOME": str(home), "KUBECONFIG": os.path.join(data, "admin.conf")}
        proc = subprocess.run([KUBECTL, "get", "namespace", "default", "-o", "name"], env=env, capture_output=True,
                              text=True, timeout=60)
        assert (proc.returncode, proc.stdout) == (0, "namespace/default\n"), proc.stderr
    finally:
        srv.stop()
    assert certificates(data)["admin.conf"].serial_number == after["admin.conf"].serial_number  # kept on restart


def test_renew_one_certificate_leaves_the_others(tmp_path, capsys):
    data = str(tmp_path)
    make_pki(data)
    before = certificates(data)
    code, out = run_certs(capsys, "renew", "kubelets/node-1.conf", "--data-dir", data)
    assert code == 0
    assert out.splitlines()[0] == "certificate embedded in the kubeconfig file for the kubelet on node node-1 renewed"
    after = certificates(data)
    assert [n for n in before if before[n].serial_number != after[n].serial_number] == ["kubelets/node-1.conf"]
    assert after["kubelets/node-1.conf"].subject == before["kubelets/node-1.conf"].subject

    code, out = run_certs(capsys, "renew", "etcd-server", "--data-dir", data)
    assert code == 1
    assert 'unknown certificate "etcd-server"' in out
    assert certificates(data) == after


def test_missing_and_externally_managed(tmp_path, capsys):
    data = str(tmp_path)
    make_pki(data)
    os.unlink(os.path.join(data, "scheduler.conf"))
    os.unlink(os.path.join(data, "pki", "front-proxy-ca.key"))
    before = certificates(data)
    _, out = run_certs(capsys, "check-expiration", "--data-dir", data)
    rows = {line.split()[0] if not line.startswith("!") else line.strip(): line for line in out.splitlines() if line}
    assert "!MISSING! scheduler.conf" in rows
    assert rows["front-proxy-client"].split()[-1] == "yes"
    assert rows["front-proxy-ca"].split()[-1] == "yes"
    assert rows["apiserver"].split()[-1] == "no"

    code, out = run_certs(capsys, "renew", "all", "--data-dir", data)
    assert code == 0
    lines = out.splitlines()
    assert "MISSING! certificate embedded in the kubeconfig file for the scheduler manager to use" in lines
    assert "Detected external front-proxy-ca, certificate for the front proxy client can't be renewed" in lines
    after = certificates(data)
    assert after["front-proxy-client"] == before["front-proxy-client"]
    assert after["apiserver"] != before["apiserver"]


def test_an_expired_certificate_shows_invalid_until_renewed(tmp_path, capsys):
    data = str(tmp_path)
    make_pki(data)
    pki = ClusterPKI(data)
    old = certs.issue(pki.ca, "kube-apiserver-kubelet-client", ("kubeadm:cluster-admins",), client=True,
                      not_before=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
                      not_after=dt.datetime(2021, 1, 1, 12, 30, tzinfo=dt.UTC))
    certs.save(old, pki.dir, "apiserver-kubelet-client")
    _, out = run_certs(capsys, "check-expiration", "--data-dir", data)
    row = next(line for line in out.splitlines() if line.startswith("apiserver-kubelet-client "))
    assert row == f"{'apiserver-kubelet-client':<27}{'Jan 01, 2021 12:30 UTC':<25}{'<invalid>':<16}{'ca':<24}no      "
    run_certs(capsys, "renew", "apiserver-kubelet-client", "--data-dir", data)
    _, out = run_certs(capsys, "check-expiration", "--data-dir", data)
    row = next(line for line in out.splitlines() if line.startswith("apiserver-kubelet-client "))
    assert "   364d   " in row


@pytest.mark.parametrize(("delta", "shown"), [
    (dt.timedelta(seconds=-5), "<invalid>"), (dt.timedelta(seconds=-1), "0s"), (dt.timedelta(seconds=59), "59s"),
    (dt.timedelta(minutes=59, seconds=59), "59m"), (dt.timedelta(hours=23, minutes=59), "23h"),
    (dt.timedelta(days=364, hours=23, minutes=55), "364d"), (dt.timedelta(days=365), "1y"),
    (dt.timedelta(days=3649, hours=23), "9y"), (dt.timedelta(days=3650), "10y"),
])
def test_residual_time_is_short_human_duration(delta, shown):
    assert short_human_duration(delta) == shown
