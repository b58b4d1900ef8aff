"""Bootstrap tokens of a cluster, managed over its API as `kubeadm token` does it, and the join command
that hands one to a new node with the hash of the CA that node must find."""

from __future__ import annotations

import os
from datetime import timedelta
from urllib.parse import urlsplit

from cryptography import x509

from timoneiro.client import ApiError, Client, ClientConfig
from timoneiro.client.kubeconfig import load_kubeconfig
from timoneiro.client.resources import SECRETS
from timoneiro.pki import bootstrap_token as bt
from timoneiro.pki.certs import public_key_hash


class TokenError(Exception):
    pass


async def create_token(client: Client, token: str | None = None, *, ttl: timedelta | None = bt.DEFAULT_TTL,
                       usages: tuple[str, ...] = bt.USAGES, groups: tuple[str, ...] = (bt.NODE_GROUP,),
                       description: str = "") -> str:
    """Store a token (a new random one unless given) as its kube-system Secret; answer the token."""
    token = token or bt.generate()
    if bt.parse(token) is None:
        raise TokenError(f'the bootstrap token "{token}" was not of the form "{bt.TOKEN_PATTERN}"')
    if error := bt.usages_error(list(usages)):
        raise TokenError(error)
    if groups and "authentication" not in usages:
        raise TokenError('token groups cannot be specified unless --usages includes "authentication"')
    for group in groups:
        if error := bt.group_error(group):
            raise TokenError(error)
    secret = bt.token_secret(token, ttl=ttl, usages=usages, groups=groups, description=description)
    try:
        await client.create(SECRETS, secret)
    except ApiError as e:
        if e.code == 409:
            raise TokenError(f'a token with id "{token.split(".")[0]}" already exists') from None
        raise
    return token


async def list_tokens(client: Client) -> list[dict]:
    """The bootstrap token Secrets of kube-system."""
    answer = await client.list(SECRETS, bt.NAMESPACE, field_selector=f"type={bt.SECRET_TYPE}")
    return answer.get("items") or []


async def delete_token(client: Client, token_or_id: str) -> str:
    """Delete a token given whole or by its id; answer the id."""
    token_id = token_or_id if bt.is_id(token_or_id) else (bt.parse(token_or_id) or ("",))[0]
    if not token_id:
        raise TokenError(f'given token "{token_or_id}" didn\'t match pattern "{bt.ID_PATTERN}" or '
                         f'"{bt.TOKEN_PATTERN}"')
    try:
        await client.delete(SECRETS, bt.secret_name(token_id), bt.NAMESPACE)
    except ApiError as e:
        raise TokenError(f'failed to delete bootstrap token "{token_id}": {e}') from None
    return token_id


def ca_cert_hash(config: ClientConfig) -> str:
    """--discovery-token-ca-cert-hash for the CA a kubeconfig trusts."""
    if config.ca_data:
        pem = config.ca_data
    elif config.ca_file:
        with open(config.ca_file, "rb") as f:
            pem = f.read()
    else:
        raise TokenError("the kubeconfig names no certificate authority to pin")
    return public_key_hash(x509.load_pem_x509_certificate(pem))


def admin_config(data_dir: str) -> ClientConfig:
    """The client settings of a cluster's administrator (its admin.conf), as `kubeadm token` uses them."""
    path = os.path.join(data_dir, "admin.conf")
    if not os.path.exists(path):
        raise TokenError(f"failed to load admin kubeconfig: open {path}: no such file or directory")
    return load_kubeconfig(path)


def join_command(config: ClientConfig, token: str) -> str:
    """`timoneiro join` for the server a kubeconfig names, on one line as `kubeadm token create
    --print-join-command` prints it (`timoneiro up` breaks it as `kubeadm init` does)."""
    endpoint = urlsplit(config.server).netloc
    return f"timoneiro join {endpoint} --token {token} --discovery-token-ca-cert-hash {ca_cert_hash(config)}"
