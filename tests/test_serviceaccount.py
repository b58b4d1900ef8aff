"""The default ServiceAccount in every namespace, and the root CA ConfigMap when there is a cluster CA."""

from __future__ import annotations

import asyncio
import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from controller_testing import eventually
from timoneiro.client import Client, ClientConfig
from timoneiro.client.informer import InformerFactory
from timoneiro.controllers.rootca import DESCRIPTION_ANNOTATION, RootCAPublisher


def test_every_namespace_gets_a_default_service_account(api, kubectl):
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        eventually(lambda ns=ns: api.exists(f"/api/v1/namespaces/{ns}/serviceaccounts/default"))
    kubectl("create", "namespace", "team")
    eventually(lambda: "serviceaccount/default" in kubectl("get", "serviceaccounts", "-n", "team", "-o", "name"))
    uid = api.get("/api/v1/namespaces/team/serviceaccounts/default")["metadata"]["uid"]
    kubectl("delete", "serviceaccount", "default", "-n", "team")
    again = eventually(lambda: api.get("/api/v1/namespaces/team/serviceaccounts/default", ok=(404,)).get("metadata"))
    assert again["uid"] != uid
    # the controller makes no other accounts and no root CA ConfigMap (this server has no CA)
    assert kubectl("get", "serviceaccounts", "-n", "team", "-o", "name").split() == ["serviceaccount/default"]
    assert not api.exists("/api/v1/namespaces/team/configmaps/kube-root-ca.crt")


def self_signed_ca() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "timoneiro-test-ca")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_root_ca_is_published_where_there_is_a_cluster_ca(api, server):
    """A publisher whose client trusts a CA (unused over http) publishes it, and puts it back if changed."""
    pem = self_signed_ca()
    api.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}})

    async def publish(check) -> None:
        async with Client(ClientConfig(server.url, ca_data=pem.encode())) as client:
            informers = InformerFactory(client)
            publisher = RootCAPublisher(client, informers)
            informers.start()
            await informers.wait_for_sync()
            task = asyncio.create_task(publisher.run())
            try:
                await asyncio.to_thread(check)
            finally:
                task.cancel()
                await informers.stop()

    def check() -> None:
        path = "/api/v1/namespaces/apps/configmaps/kube-root-ca.crt"
        cm = eventually(lambda: api.get(path, ok=(404,)).get("data"))
        assert cm == {"ca.crt": pem}
        assert "kubernetes.default.svc" in api.get(path)["metadata"]["annotations"][DESCRIPTION_ANNOTATION]
        api.patch(path, {"data": {"ca.crt": "tampered"}})
        eventually(lambda: api.get(path)["data"] == {"ca.crt": pem})
        api.delete(path)
        eventually(lambda: api.get(path, ok=(404,)).get("data") == {"ca.crt": pem})
        assert api.get("/api/v1/namespaces/kube-system/configmaps/kube-root-ca.crt")["data"] == {"ca.crt": pem}

    asyncio.run(publish(check))
