"""Signing in to EKS clusters the EKS way, end to end with the real `aws` CLI and kubectl: `aws eks
update-kubeconfig` writes a kubeconfig whose user runs `aws eks get-token`; the cluster's API server asks the
service (its token webhook) whose the token is; the answer comes from the cluster's access entries (and the
aws-auth ConfigMap in the CONFIG_MAP modes) and what the user may do from the associated access policies."""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import yaml

from controller_testing import eventually
from timoneiro.eks.iam import AccessKey
from timoneiro.eks.tokens import PREFIX

if TYPE_CHECKING:
    from eks_testing import EksService

ROLE = "arn:aws:iam::111122223333:role/eksClusterRole"
VPC = {"subnetIds": ["subnet-0a1", "subnet-0b2"], "securityGroupIds": ["sg-01"]}
POLICY = "arn:aws:eks::aws:cluster-access-policy/"
KUBECTL = shutil.which("kubectl")
UNAUTHORIZED = "error: You must be logged in to the server"


def create_cluster(eks: EksService, name: str, mode: str | None = None) -> dict:
    client = eks.client()
    extra = {"accessConfig": {"authenticationMode": mode}} if mode else {}
    client.create_cluster(name=name, roleArn=ROLE, resourcesVpcConfig=VPC, **extra)
    client.get_waiter("cluster_active").wait(name=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    eks.aws("eks", "update-kubeconfig", "--name", name, "--kubeconfig", str(eks.kubeconfig))
    return client.describe_cluster(name=name)["cluster"]


def kubectl(eks: EksService, *args: str, key: AccessKey | None = None, input: str | None = None
            ) -> subprocess.CompletedProcess:
    """kubectl through the kubeconfig update-kubeconfig wrote, its `aws eks get-token` signing as `key`'s
    user (the service's admin, the cluster creator, by default)."""
    env = {**eks.env, "HOME": str(eks.home)}  # kubectl's discovery cache too stays in the test's directory
    if key is not None:
        env.update(AWS_ACCESS_KEY_ID=key.principal.access_key_id, AWS_SECRET_ACCESS_KEY=key.secret_access_key)
    return subprocess.run([KUBECTL, *args], capture_output=True, text=True, env=env, input=input, timeout=120,
                          cwd=eks.home)


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def whoami(eks: EksService, key: AccessKey | None = None) -> dict:
    return json.loads(ok(kubectl(eks, "auth", "whoami", "-o", "json", key=key)))["status"]["userInfo"]


def next_token() -> None:
    """The API server keeps a token's identity for the webhook cache TTL, as upstream's does; a token signed in
    the same second as the last is the same token, so that a changed identity shows on the next one, signed a
    second later."""
    time.sleep(1)


def forbidden(proc: subprocess.CompletedProcess) -> bool:
    return proc.returncode != 0 and "forbidden" in proc.stderr.lower()


def test_the_creator_signs_in_with_update_kubeconfig(eks):
    cluster = create_cluster(eks, "demo")  # the API's default authentication mode, CONFIG_MAP
    plugin = yaml.safe_load(eks.kubeconfig.read_text())["users"][0]["user"]["exec"]
    assert plugin["command"] == "aws" and "eks" in plugin["args"]
    assert plugin["args"][plugin["args"].index("get-token"):][:3] == ["get-token", "--cluster-name", "demo"]
    assert "kubernetes" in ok(kubectl(eks, "get", "svc"))
    admin = eks.server.credentials.principal
    me = whoami(eks)
    assert me["username"] == admin.arn and me["groups"] == ["system:authenticated"]
    assert me["uid"] == f"aws-iam-authenticator:{eks.eks.account}:{admin.user_id}"
    assert me["extra"]["arn"] == [admin.arn] and me["extra"]["accessKeyId"] == [admin.access_key_id]
    assert me["extra"]["sessionName"] == [""] and me["extra"]["principalId"] == [admin.user_id]
    ok(kubectl(eks, "create", "namespace", "made-by-the-creator"))  # cluster admin

    # the access entries API wants the API or API_AND_CONFIG_MAP mode; the creator's entry was made anyway
    refused = eks.aws("eks", "list-access-entries", "--cluster-name", "demo", check=False)
    assert "InvalidRequestException" in refused.stderr and \
        "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP]" in refused.stderr
    client = eks.client()
    update = client.update_cluster_config(name="demo", accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
    client.get_waiter("cluster_active").wait(name="demo", WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    assert update["update"]["type"] == "AccessConfigUpdate"
    assert eks.aws_json("eks", "list-access-entries", "--cluster-name", "demo")["accessEntries"] == [admin.arn]
    assert cluster["accessConfig"]["bootstrapClusterCreatorAdminPermissions"] is True


def test_another_user_needs_an_entry_then_a_policy(eks):
    create_cluster(eks, "shared", "API_AND_CONFIG_MAP")
    dev = eks.eks.iam.create_user("dev")
    denied = kubectl(eks, "get", "pods", key=dev)
    assert denied.returncode != 0 and UNAUTHORIZED in denied.stderr

    eks.aws("eks", "create-access-entry", "--cluster-name", "shared", "--principal-arn", dev.principal.arn)
    next_token()
    assert whoami(eks, dev)["username"] == dev.principal.arn
    assert forbidden(kubectl(eks, "get", "pods", key=dev))

    eks.aws("eks", "associate-access-policy", "--cluster-name", "shared", "--principal-arn", dev.principal.arn,
            "--policy-arn", POLICY + "AmazonEKSViewPolicy", "--access-scope", "type=namespace,namespaces=default")
    listed = kubectl(eks, "get", "pods", key=dev)
    assert listed.returncode == 0 and "No resources found in default namespace." in listed.stderr
    assert forbidden(kubectl(eks, "create", "configmap", "mine", key=dev))  # view: read only
    assert forbidden(kubectl(eks, "get", "pods", "-n", "kube-system", key=dev))  # only where scoped
    assert forbidden(kubectl(eks, "get", "secrets", key=dev))  # view does not read secrets

    client = eks.client()
    client.associate_access_policy(clusterName="shared", principalArn=dev.principal.arn,  # a new scope
                                   policyArn=POLICY + "AmazonEKSViewPolicy", accessScope={"type": "cluster"})
    ok(kubectl(eks, "get", "pods", "-n", "kube-system", key=dev))
    client.update_access_entry(clusterName="shared", principalArn=dev.principal.arn, kubernetesGroups=["viewers"],
                               username="developer")
    next_token()
    me = whoami(eks, dev)
    assert (me["username"], me["groups"]) == ("developer", ["viewers", "system:authenticated"])
    ok(kubectl(eks, "get", "pods", "-n", "kube-system", key=dev))  # the binding follows the new username

    client.disassociate_access_policy(clusterName="shared", principalArn=dev.principal.arn,
                                      policyArn=POLICY + "AmazonEKSViewPolicy")
    assert forbidden(kubectl(eks, "get", "pods", key=dev))
    client.delete_access_entry(clusterName="shared", principalArn=dev.principal.arn)
    next_token()
    assert UNAUTHORIZED in kubectl(eks, "get", "pods", key=dev).stderr
    bindings = json.loads(ok(kubectl(eks, "get", "clusterrolebindings,rolebindings", "-A", "-o", "json",
                                     "-l", "timoneiro.io/access-policy")))["items"]
    assert [b["roleRef"]["name"] for b in bindings] == ["cluster-admin"]  # the creator's alone


def test_namespace_scopes_with_wildcards_cover_namespaces_made_later(eks):
    create_cluster(eks, "teams", "API")
    ops, client = eks.eks.iam.create_user("ops"), eks.client()
    client.create_access_entry(clusterName="teams", principalArn=ops.principal.arn)
    client.associate_access_policy(clusterName="teams", principalArn=ops.principal.arn,
                                   policyArn=POLICY + "AmazonEKSEditPolicy",
                                   accessScope={"type": "namespace", "namespaces": ["team-*"]})
    ok(kubectl(eks, "create", "namespace", "team-a"))
    eventually(lambda: kubectl(eks, "create", "configmap", "cm", "-n", "team-a", key=ops).returncode == 0,
               timeout=30)
    assert forbidden(kubectl(eks, "create", "configmap", "cm", "-n", "default", key=ops))
    client.associate_access_policy(clusterName="teams", principalArn=ops.principal.arn,
                                   policyArn=POLICY + "AmazonEKSAdminViewPolicy", accessScope={"type": "cluster"})
    ok(kubectl(eks, "get", "secrets", "-n", "kube-system", key=ops))  # admin view reads secrets too


def test_aws_auth_maps_users_in_the_config_map_modes_only(eks):
    create_cluster(eks, "legacy", "API_AND_CONFIG_MAP")
    dev = eks.eks.iam.create_user("legacy-dev")
    aws_auth = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "aws-auth", "namespace": "kube-system"},
                "data": {"mapUsers": yaml.safe_dump([{"userarn": dev.principal.arn, "username": "legacy:{{AccountID}}",
                                                      "groups": ["legacy-devs"]}])}}
    ok(kubectl(eks, "apply", "-f", "-", input=json.dumps(aws_auth)))
    me = whoami(eks, dev)
    assert (me["username"], me["groups"]) == (f"legacy:{eks.eks.account}", ["legacy-devs", "system:authenticated"])
    # an access entry wins over the ConfigMap for the same principal
    client = eks.client()
    client.create_access_entry(clusterName="legacy", principalArn=dev.principal.arn)
    next_token()
    assert whoami(eks, dev)["username"] == dev.principal.arn
    client.delete_access_entry(clusterName="legacy", principalArn=dev.principal.arn)

    client.update_cluster_config(name="legacy", accessConfig={"authenticationMode": "API"})
    client.get_waiter("cluster_active").wait(name="legacy", WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    next_token()
    assert UNAUTHORIZED in kubectl(eks, "get", "pods", key=dev).stderr  # API mode: the ConfigMap is ignored


def test_forged_tokens_and_strangers_at_the_webhook_are_refused(eks):
    cluster = create_cluster(eks, "guarded", "API")
    token = json.loads(eks.aws("eks", "get-token", "--cluster-name", "guarded").stdout)["status"]["token"]
    ca = base64.b64decode(cluster["certificateAuthority"]["data"]).decode()
    with httpx.Client(base_url=cluster["endpoint"], verify=ssl.create_default_context(cadata=ca)) as http:
        assert http.get("/api", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        url = base64.urlsafe_b64decode(token[len(PREFIX):] + "==").decode()
        signature = url.rpartition("X-Amz-Signature=")[2]
        forged = PREFIX + base64.urlsafe_b64encode(url.replace(signature, signature[::-1]).encode()).decode().rstrip("=")
        assert http.get("/api", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
        other = json.loads(eks.aws("eks", "get-token", "--cluster-name", "another").stdout)["status"]["token"]
        assert http.get("/api", headers={"Authorization": f"Bearer {other}"}).status_code == 401
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
    hook = f"{eks.url}/webhooks/authentication/guarded"
    assert httpx.post(hook, json=review).status_code == 401  # only the cluster's API server may ask
    assert httpx.post(hook, json=review, headers={"Authorization": "Bearer guess"}).status_code == 401
    webhook_conf = yaml.safe_load(Path(eks.eks.store.cluster_dir("guarded"), "authentication-webhook.conf").read_text())
    secret = webhook_conf["users"][0]["user"]["token"]
    answer = httpx.post(hook, json=review, headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 200 and answer.json()["status"]["authenticated"] is True
    assert httpx.post(f"{eks.url}/webhooks/authentication/another", json=review,
                      headers={"Authorization": f"Bearer {secret}"}).status_code == 401



def test_sign_in_and_policies_outlive_a_restart_of_the_service(tmp_path):
    from eks_testing import EksService

    home = tmp_path / "eks"
    with EksService(home) as eks:
        create_cluster(eks, "lasting", "API")
        qa = eks.eks.iam.create_user("qa")
        client = eks.client()
        client.create_access_entry(clusterName="lasting", principalArn=qa.principal.arn)
        client.associate_access_policy(clusterName="lasting", principalArn=qa.principal.arn,
                                       policyArn=POLICY + "AmazonEKSEditPolicy",
                                       accessScope={"type": "namespace", "namespaces": ["qa-*"]})
    with EksService(home) as eks:  # on another port: its clusters' webhook follows it
        assert whoami(eks)["username"] == eks.server.credentials.principal.arn
        ok(kubectl(eks, "create", "namespace", "qa-after-restart"))
        eventually(lambda: kubectl(eks, "create", "configmap", "cm", "-n", "qa-after-restart",
                                   key=qa).returncode == 0, timeout=30)
