"""What the CSR and join tests share: a server authorizing as kubeadm's kube-apiserver does (Node,RBAC) with
its controller manager in-process, so that the bootstrap signer, the token cleaner and the certificate
controllers run."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from timoneiro.apiserver.server import ServerThread

CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests"


@contextlib.contextmanager
def node_rbac_server(tmp_path: Path) -> Iterator[ServerThread]:
    srv = ServerThread(str(tmp_path / "data"), authorization_mode="Node,RBAC").start()
    try:
        yield srv
    finally:
        srv.stop()
