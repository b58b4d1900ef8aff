"""A local cluster's kubeconfig entries: a cluster, user and context all named `timoneiro-NAME`, added once
it is up and removed by `down`, as kind does with `kind-NAME`."""

from __future__ import annotations

from timoneiro.client.config import ClientConfig
from timoneiro.client.kubeconfig import merge_kubeconfig, remove_kubeconfig
from timoneiro.cluster.names import context_name


def add_context(cluster: str, url: str, admin: ClientConfig) -> str:
    """Merge the entries, with the administrator's credentials (those of admin.conf), into the kubeconfig
    kubectl writes to and make them current; the file written."""
    return merge_kubeconfig(context_name(cluster), url, ca_data=admin.ca_data, cert_data=admin.cert_data,
                            key_data=admin.key_data)


def remove_context(cluster: str) -> list[str]:
    """Drop the entries from every kubeconfig file kubectl reads; the files changed."""
    return remove_kubeconfig(context_name(cluster))
