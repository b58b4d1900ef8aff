"""`timoneiro eks update-kubeconfig` and `timoneiro eks get-token`: what `aws eks update-kubeconfig` and
`aws eks get-token` do, for users without the aws CLI. Credentials, region and endpoint come from where
botocore finds them (the environment, ~/.aws, --profile), as for the aws CLI; the kubeconfig entries are
named by the cluster's ARN, and kubectl runs `timoneiro eks get-token` to sign in."""

from __future__ import annotations

import base64
import datetime
import json
import os

import botocore.session

from timoneiro.client.kubeconfig import kubeconfig_contexts, kubeconfig_write_target, merge_kubeconfig
from timoneiro.eks import tokens

EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"
TOKEN_LIFETIME = datetime.timedelta(minutes=14)  # a token's URL is good for 15; the client renews before
SIGNED_IN_STATUSES = ("ACTIVE", "UPDATING")  # a cluster in any other has no API server to sign in to


class ClusterNotReady(Exception):
    """The cluster has no API server to write a kubeconfig for (yet, or any more)."""


def session(profile: str | None = None, region: str | None = None) -> botocore.session.Session:
    made = botocore.session.Session(profile=profile)
    if region:
        made.set_config_variable("region", region)
    return made


def update_kubeconfig(name: str, *, region: str | None = None, profile: str | None = None,
                      endpoint_url: str | None = None, path: str | None = None, alias: str | None = None,
                      user_alias: str | None = None) -> str:
    """Add or update the cluster's context (its ARN, or `alias`) and make it current; answer what was done,
    in the aws CLI's words."""
    eks = session(profile, region).create_client("eks", endpoint_url=endpoint_url)
    cluster = eks.describe_cluster(name=name)["cluster"]
    if cluster["status"] not in SIGNED_IN_STATUSES:
        raise ClusterNotReady(f"Cluster status is {cluster['status']}")
    arn, region = cluster["arn"], eks.meta.region_name
    plugin: dict = {"apiVersion": EXEC_API_VERSION, "command": "timoneiro",
                    "args": ["eks", "get-token", "--cluster-name", name, "--region", region]}
    if profile:
        plugin["env"] = [{"name": "AWS_PROFILE", "value": profile}]
    path = os.path.abspath(os.path.expanduser(path or kubeconfig_write_target()))
    context = alias or arn
    existed = context in kubeconfig_contexts(path)
    merge_kubeconfig(arn, cluster["endpoint"], ca_data=_ca(cluster), exec_plugin=plugin, context=context,
                     user_name=user_alias or arn, path=path)
    return f"Updated context {context} in {path}" if existed else f"Added new context {context} to {path}"


def get_token(cluster_name: str, *, region: str | None = None, profile: str | None = None,
              endpoint_url: str | None = None) -> str:
    """The ExecCredential kubectl reads from the exec plugin, in the apiVersion kubectl asked for."""
    sts = session(profile, region).create_client("sts", endpoint_url=endpoint_url)
    expires = datetime.datetime.now(datetime.UTC) + TOKEN_LIFETIME
    asked = json.loads(os.environ.get("KUBERNETES_EXEC_INFO") or "{}").get("apiVersion")
    return json.dumps({"kind": "ExecCredential", "apiVersion": asked or EXEC_API_VERSION, "spec": {},
                       "status": {"expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                  "token": tokens.make(sts, cluster_name)}})


def _ca(cluster: dict) -> bytes | None:
    data = (cluster.get("certificateAuthority") or {}).get("data")
    return base64.b64decode(data) if data else None
