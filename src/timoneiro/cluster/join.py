"""`timoneiro join`: a new node joins a running cluster with nothing but a bootstrap token and the hash of
the cluster CA's public key, as `kubeadm join` does it.

1. Discovery: read kube-public/cluster-info anonymously over TLS without trusting any CA yet; check its
   kubeconfig against the JWS signature the bootstrap signer made with this token (proof the server knows
   the token), then the CA in it against --discovery-token-ca-cert-hash (proof it is the CA meant). Only
   then, trusting that CA, read it again and compare. No credential has been sent so far.
2. TLS bootstrap: as the bootstrap token's user, refuse a name a Ready node has, ask for a client certificate
   for system:node:NAME (a CertificateSigningRequest the CSR approver approves and the signer signs), and
   write the node's kubeconfig with it (kubeadm leaves this step to the kubelet; here join does it).
3. Run the node's kubelet with that kubeconfig until cancelled, on the simulated runtime or on a containerd
   of the node's own (its registry and containerd under the node's data dir, as `timoneiro up --runtime
   containerd` runs them for each of its nodes; its pod range from the cluster's node IPAM). Its API
   listens on --node-ip (its InternalIP, loopback by default) with a serving certificate it asks the
   cluster for, as upstream's kubelet with serverTLSBootstrap (kubelet/server/certificates.py), so that
   the API server's logs, exec, attach and port-forward reach it."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import yaml
from cryptography import x509

from timoneiro.client import ApiError, Client, ClientConfig, TransportError
from timoneiro.client.kubeconfig import load_kubeconfig
from timoneiro.client.resources import CONFIGMAPS, NODES
from timoneiro.cluster.names import SIMULATED, NodeSpec
from timoneiro.cluster.node_runtimes import NodeRuntimes
from timoneiro.files import write_private
from timoneiro.kubelet import Kubelet
from timoneiro.kubelet.node_status import is_ready
from timoneiro.kubelet.server import Serving
from timoneiro.pki import bootstrap_token as bt
from timoneiro.pki import certs
from timoneiro.pki import csr as csrs
from timoneiro.pki.certs import KeyPair
from timoneiro.pki.cluster import kubeconfig_yaml, node_user
from timoneiro.pki.csr_requests import CertificateRequestError, request_certificate, request_name

DISCOVERY_TIMEOUT = 300.0  # kubeadm's discovery timeout
TLS_BOOTSTRAP_TIMEOUT = 240.0  # and how long it waits for the kubelet's TLS bootstrap
RETRY = 0.5
KUBECONFIG = "kubelet.conf"
CLIENT_CA = "ca.crt"  # the kubelet's --client-ca-file: the CA discovery pinned
CERT_DIR = "pki"  # the kubelet's --cert-dir: its serving certificate, asked for with a CSR
JOINED = """
This node has joined the cluster:
* Certificate signing request was sent to apiserver and a response was received.
* The Kubelet was informed of the new secure connection details.

Run 'kubectl get nodes' on the control-plane to see this node join the cluster.
"""


class JoinError(Exception):
    """A join that cannot go on, with the kubeadm phase it failed in."""

    phase = ""


class PreflightError(JoinError):
    phase = "preflight"


class KubeletStartError(JoinError):
    phase = "kubelet-start"


@dataclass
class JoinOptions:
    endpoint: str  # HOST:PORT of the API server
    token: str
    ca_cert_hashes: list[str]
    node_name: str
    data_dir: str
    runtime: str = SIMULATED  # names.RUNTIMES
    node_ip: str = "127.0.0.1"  # the kubelet's --node-ip: its InternalIP, where its API listens
    kubelet_port: int = 0  # where its API listens (0: any free port, told in the Node's status)


def pinned_hashes(values: list[str]) -> set[str]:
    """The hex SHA-256 values of --discovery-token-ca-cert-hash flags (kubeadm's pubkeypin.Set.Allow)."""
    pins = set()
    for value in values:
        parts = value.split(":")
        if len(parts) != 2:
            raise ValueError('invalid hash, expected "format:hex-value". Known format(s) are: sha256')
        form, digest = parts
        if form.lower() != "sha256":
            raise ValueError(f'unknown hash format "{form}". Known format(s) are: sha256')
        try:
            bytes.fromhex(digest)
        except ValueError:
            raise ValueError(f'invalid hash "{value}", could not decode SHA-256 from hex') from None
        if len(digest) != 64:
            raise ValueError(f'invalid hash "{value}", expected a 32 byte SHA-256 hash, '
                             f"found {len(digest) // 2} bytes")
        pins.add(digest.lower())
    return pins


def preflight(options: JoinOptions) -> tuple[str, str, set[str]]:
    """(token id, token secret, pins), or JoinError before anything is sent."""
    token = bt.parse(options.token)
    if token is None:
        raise PreflightError(f'the bootstrap token "{options.token}" was not of the form '
                             f'"{bt.TOKEN_PATTERN}"')
    if not options.ca_cert_hashes:
        raise PreflightError("using token-based discovery without --discovery-token-ca-cert-hash can be "
                             "unsafe: pass the hash `timoneiro up` or `timoneiro token create "
                             "--print-join-command` printed")
    try:
        pins = pinned_hashes(options.ca_cert_hashes)
    except ValueError as e:
        raise PreflightError(f"invalid discovery token CA certificate hash: {e}") from None
    path = os.path.join(options.data_dir, KUBECONFIG)
    if os.path.exists(path):
        raise PreflightError("[preflight] Some fatal errors occurred:\n"
                             f"\t[ERROR FileAvailable--{KUBECONFIG}]: {path} already exists")
    return token[0], token[1], pins


# discovery


async def _cluster_info(config: ClientConfig, token_id: str, deadline: float) -> dict:
    """cluster-info once it carries a signature for the token (the signer adds it a little after the token
    appears); retried until the deadline, then the last error."""
    error = ""
    async with Client(config) as client:
        while True:
            try:
                cm = await client.get(CONFIGMAPS, bt.CLUSTER_INFO, bt.CLUSTER_INFO_NAMESPACE)
                if bt.JWS_PREFIX + token_id in (cm.get("data") or {}):
                    return cm
                error = ("could not find a JWS signature in the cluster-info ConfigMap for token ID "
                         f'"{token_id}"')
            except (ApiError, TransportError) as e:
                error = f"failed to request the cluster-info ConfigMap: {e}"
            if time.monotonic() > deadline:
                raise PreflightError(f"couldn't validate the identity of the API Server: {error}")
            await asyncio.sleep(RETRY)


def _signed_kubeconfig(cm: dict, token_id: str, token_secret: str) -> str:
    data = cm.get("data") or {}
    content = data.get(bt.KUBECONFIG_KEY)
    if not content:
        raise PreflightError(f"there is no {bt.KUBECONFIG_KEY} key in the {bt.CLUSTER_INFO} ConfigMap. "
                             "This API Server isn't set up for token bootstrapping, can't connect")
    if not bt.signature_valid(data.get(bt.JWS_PREFIX + token_id, ""), content, token_id, token_secret):
        raise PreflightError("failed to verify JWS signature of received cluster info object, can't trust "
                             "this API Server")
    return content


def _pinned_ca(kubeconfig: str, pins: set[str]) -> tuple[str, bytes]:
    """(server, CA PEM) of cluster-info's kubeconfig, if one of the CA's keys is pinned."""
    try:
        cluster = (yaml.safe_load(kubeconfig)["clusters"][-1] or {})["cluster"]
        server, ca_pem = cluster["server"], base64.b64decode(cluster["certificate-authority-data"])
        cas = x509.load_pem_x509_certificates(ca_pem)
    except (yaml.YAMLError, KeyError, IndexError, TypeError, ValueError) as e:
        raise PreflightError(f"malformed kubeconfig in the {bt.CLUSTER_INFO} ConfigMap: {e}") from None
    hashes_found = [certs.public_key_hash(ca) for ca in cas]
    if not any(h.split(":", 1)[1] in pins for h in hashes_found):
        raise PreflightError("couldn't validate the identity of the API Server: cluster CA found in "
                             f'{bt.CLUSTER_INFO} ConfigMap is invalid: none of the public keys '
                             f'"{":".join(hashes_found)}" are pinned')
    return server, ca_pem


async def discover(endpoint: str, token_id: str, token_secret: str, pins: set[str],
                   out: Callable[[str], None], timeout: float = DISCOVERY_TIMEOUT) -> tuple[str, bytes]:
    """The server and CA a joining node may trust, from cluster-info (see the module's docstring)."""
    url = f"https://{endpoint}"
    deadline = time.monotonic() + timeout
    out(f'[discovery] Created cluster-info discovery client, requesting info from "{url}"')
    insecure = await _cluster_info(ClientConfig(url, insecure_skip_tls_verify=True), token_id, deadline)
    kubeconfig = _signed_kubeconfig(insecure, token_id, token_secret)
    server, ca_pem = _pinned_ca(kubeconfig, pins)
    out(f'[discovery] Requesting info from "{url}" again to validate TLS against the pinned public key')
    secure = await _cluster_info(ClientConfig(url, ca_data=ca_pem), token_id, deadline)
    if (secure.get("data") or {}).get(bt.KUBECONFIG_KEY) != kubeconfig:
        raise PreflightError(f"the second kubeconfig from the {bt.CLUSTER_INFO} ConfigMap (using validated "
                             "TLS) was different from the first")
    out("[discovery] Cluster info signature and contents are valid and TLS certificate validates against "
        f'pinned roots, will use API Server "{endpoint}"')
    return server, ca_pem


# TLS bootstrap


async def _refuse_ready_node(client: Client, node_name: str) -> None:
    try:
        node = await client.get(NODES, node_name)
    except ApiError as e:
        if e.code == 404:
            return
        raise KubeletStartError(f'cannot get Node "{node_name}": {e}') from None
    if is_ready(node):
        raise KubeletStartError(f'a Node with name "{node_name}" and status "Ready" already exists in '
                                "the cluster. You must delete the existing Node or change the name of "
                                "this new joining Node")


async def _request_certificate(client: Client, node_name: str) -> KeyPair:
    """Ask for a kubelet client certificate and wait until it is issued (client-go's RequestCertificate and
    WaitForCertificate)."""
    key = certs.new_key()
    cn, orgs = node_user(node_name)
    usages = ["digital signature", "client auth"]  # an ECDSA key: no key encipherment
    try:
        return await request_certificate(client, key, csrs.new_request(key, cn, orgs), csrs.KUBELET_CLIENT_SIGNER,
                                         usages, name=request_name(key, cn, orgs, usages),
                                         timeout=TLS_BOOTSTRAP_TIMEOUT)
    except CertificateRequestError as e:
        raise KubeletStartError(str(e)) from None


async def tls_bootstrap(server: str, ca_pem: bytes, token: str, node_name: str, data_dir: str,
                        out: Callable[[str], None]) -> str:
    """The node's kubeconfig (its path) with a certificate the cluster issued for the bootstrap token."""
    async with Client(ClientConfig(server, ca_data=ca_pem, token=token)) as client:
        await _refuse_ready_node(client, node_name)
        out("[kubelet-start] Waiting for the kubelet to perform the TLS Bootstrap")
        try:
            pair = await _request_certificate(client, node_name)
        except (ApiError, TransportError) as e:
            raise KubeletStartError(str(e)) from None
    path = os.path.join(data_dir, KUBECONFIG)
    os.makedirs(data_dir, mode=0o700, exist_ok=True)
    write_private(path, kubeconfig_yaml(server, ca_pem, pair, node_user(node_name)[0]).encode())
    out(f'[kubelet-start] Writing the kubelet\'s kubeconfig to file "{path}"')
    return path


async def join(options: JoinOptions, out: Callable[[str], None] = print) -> None:
    """Join, then run the kubelet (and the node's containerd, with that runtime) until cancelled; both stop
    cleanly."""
    out("[preflight] Running pre-flight checks")
    token_id, token_secret, pins = preflight(options)
    server, ca_pem = await discover(options.endpoint, token_id, token_secret, pins, out)
    path = await tls_bootstrap(server, ca_pem, options.token, options.node_name, options.data_dir, out)
    ca_path = os.path.join(options.data_dir, CLIENT_CA)
    write_private(ca_path, ca_pem)
    runtimes = NodeRuntimes(options.runtime, options.node_name, options.data_dir, [NodeSpec(options.node_name, False)])
    try:
        if options.runtime != SIMULATED:
            out(f"[kubelet-start] Starting the node's {options.runtime}")
        await runtimes.start()
        out("[kubelet-start] Starting the kubelet")
        kubelet = Kubelet(load_kubeconfig(path), options.node_name, runtime=runtimes.runtime(options.node_name),
                          labels=runtimes.labels(options.node_name), wait_for_pod_cidr=options.runtime != SIMULATED,
                          node_addresses=[{"type": "InternalIP", "address": options.node_ip},
                                          {"type": "Hostname", "address": options.node_name}],
                          serving=Serving(options.node_ip, options.kubelet_port, client_ca_file=ca_path,
                                          cert_dir=os.path.join(options.data_dir, CERT_DIR)))
        try:
            await kubelet.start()
            out(JOINED)
            await asyncio.Future()
        finally:
            await kubelet.stop()
    finally:
        await runtimes.stop()
