"""A local cluster's kubeconfig entries: a cluster, user and context all named `timoneiro-NAME`, added once
it is up and removed by `down`, as kind does with `kind-NAME`."""

from __future__ import annotations

from timoneiro.client.kubeconfig import merge_kubeconfig, remove_kubeconfig
from timoneiro.cluster.names import context_name


def add_context(cluster: str, url: str) -> str:
    """Merge the entries into the kubeconfig kubectl writes to and make them current; the file written."""
    return merge_kubeconfig(context_name(cluster), url)


def remove_context(cluster: str) -> list[str]:
    """Drop the entries from every kubeconfig file kubectl reads; the files changed."""
    return remove_kubeconfig(context_name(cluster))
