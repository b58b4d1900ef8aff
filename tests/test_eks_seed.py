"""Seed 000's EKS walk-through, end to end with the real `aws` CLI, boto3 and kubectl: a cluster, a managed
node group (min 1, max 2, desired 1) whose nodes are Ready with EKS's labels, a kubeconfig written by
`timoneiro eks update-kubeconfig` (no aws CLI needed: kubectl signs in with `timoneiro eks get-token`), the
seed's Deployment and Service applied through it running on the node group's nodes, scaling to 2 and to 0
with the Auto Scaling history to show for it, then the node group and the cluster deleted."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from controller_testing import eventually
from timoneiro.eks import tokens

ROLE = "arn:aws:iam::111122223333:role/eksClusterRole"
NODE_ROLE = "arn:aws:iam::111122223333:role/eksNodeRole"
SUBNETS = ["subnet-0a1", "subnet-0b2"]
FAST = {"Delay": 1, "MaxAttempts": 120}
SEED = Path(__file__).parent / "manifests" / "seed000.yaml"
KUBECTL = shutil.which("kubectl")


def timoneiro(eks, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "timoneiro", *args], capture_output=True, text=True,
                          env=eks.env, timeout=60, cwd=eks.home)


def kubectl(eks, *args: str) -> str:
    """kubectl through the kubeconfig `timoneiro eks update-kubeconfig` wrote (eks.env's KUBECONFIG)."""
    proc = subprocess.run([KUBECTL, *args], capture_output=True, text=True, timeout=60, cwd=eks.home,
                          env={**eks.env, "HOME": str(eks.home)})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def scale(eks, **sizes: int) -> None:
    config = ",".join(f"{k}={v}" for k, v in sizes.items())
    eks.aws("eks", "update-nodegroup-config", "--cluster-name", "EKSDeepDive", "--nodegroup-name", "workers",
            "--scaling-config", config)
    eks.client().get_waiter("nodegroup_active").wait(clusterName="EKSDeepDive", nodegroupName="workers",
                                                     WaiterConfig=FAST)


def nodes(eks) -> dict[str, dict]:
    return {n["metadata"]["name"]: n for n in json.loads(kubectl(eks, "get", "nodes", "-o", "json"))["items"]}


def seed_pods(eks) -> list[dict]:
    listing = json.loads(kubectl(eks, "get", "pods", "-l", "run=helloworld-backend", "-o", "json"))
    return [p for p in listing["items"] if not p["metadata"].get("deletionTimestamp")]


def running_on(eks, names: set[str]) -> bool:
    pods = seed_pods(eks)
    return len(pods) == 2 and all(p["status"].get("phase") == "Running" and p["spec"].get("nodeName") in names
                                  for p in pods)


def test_seed_walkthrough(eks):
    eks.aws("eks", "create-cluster", "--name", "EKSDeepDive", "--role-arn", ROLE, "--resources-vpc-config",
            f"subnetIds={','.join(SUBNETS)},endpointPublicAccess=true")
    client = eks.client()
    client.get_waiter("cluster_active").wait(name="EKSDeepDive", WaiterConfig=FAST)

    made = eks.aws_json("eks", "create-nodegroup", "--cluster-name", "EKSDeepDive", "--nodegroup-name",
                        "workers", "--node-role", NODE_ROLE, "--subnets", *SUBNETS, "--instance-types",
                        "t3.medium", "--scaling-config", "minSize=1,maxSize=2,desiredSize=1")
    assert made["nodegroup"]["status"] == "CREATING"
    client.get_waiter("nodegroup_active").wait(clusterName="EKSDeepDive", nodegroupName="workers",
                                               WaiterConfig=FAST)

    written = timoneiro(eks, "eks", "update-kubeconfig", "--name", "EKSDeepDive")
    assert written.returncode == 0, written.stderr
    arn = client.describe_cluster(name="EKSDeepDive")["cluster"]["arn"]
    assert written.stdout.strip() == f"Added new context {arn} to {eks.kubeconfig}"
    config = yaml.safe_load(eks.kubeconfig.read_text())
    assert config["current-context"] == arn
    assert config["users"][0]["user"]["exec"]["command"] == "timoneiro"
    assert "kubernetes" in kubectl(eks, "get", "svc")
    assert "is running at" in kubectl(eks, "cluster-info")
    assert kubectl(eks, "get", "secrets", "-n", "kube-system", "--field-selector",  # nodes join the EKS way
                   "type=bootstrap.kubernetes.io/token", "-o", "name") == ""

    (first,) = found = nodes(eks)
    labels = found[first]["metadata"]["labels"]
    assert labels["eks.amazonaws.com/nodegroup"] == "workers" and labels["node.kubernetes.io/instance-type"] == \
        "t3.medium" and labels["eks.amazonaws.com/capacityType"] == "ON_DEMAND"
    assert " Ready " in kubectl(eks, "get", "nodes")

    # the seed's Deployment and Service, through the kubeconfig just written
    kubectl(eks, "apply", "-f", str(SEED))
    eventually(lambda: running_on(eks, {first}), timeout=60)
    assert "2/2" in kubectl(eks, "get", "deployments")
    assert "helloworld-backend" in kubectl(eks, "get", "svc")

    scale(eks, desiredSize=2)
    assert len(found := nodes(eks)) == 2 and all(
        n["metadata"]["labels"]["eks.amazonaws.com/nodegroup"] == "workers" for n in found.values())
    group = client.describe_nodegroup(clusterName="EKSDeepDive", nodegroupName="workers")["nodegroup"][
        "resources"]["autoScalingGroups"][0]["name"]
    history = eks.aws_json("autoscaling", "describe-scaling-activities", "--auto-scaling-group-name", group)
    assert [a["Description"].split(":")[0] for a in history["Activities"]] == ["Launching a new EC2 instance"] * 2

    scale(eks, minSize=0, desiredSize=0)
    assert nodes(eks) == {}
    pods = seed_pods(eks)  # drained: recreated by their ReplicaSet, with nowhere to go
    assert len(pods) == 2 and all(not p["spec"].get("nodeName") for p in pods)
    history = eks.aws_json("autoscaling", "describe-scaling-activities", "--auto-scaling-group-name", group)
    terminated = [a for a in history["Activities"] if a["Description"].startswith("Terminating EC2 instance: ")]
    assert len(terminated) == 2 and {a["StatusCode"] for a in terminated} == {"Successful"}

    kubectl(eks, "delete", "-f", str(SEED))
    eks.aws("eks", "delete-nodegroup", "--cluster-name", "EKSDeepDive", "--nodegroup-name", "workers")
    client.get_waiter("nodegroup_deleted").wait(clusterName="EKSDeepDive", nodegroupName="workers",
                                                WaiterConfig=FAST)
    control_plane = eks.eks.control_plane("EKSDeepDive")
    eks.aws("eks", "delete-cluster", "--name", "EKSDeepDive")
    client.get_waiter("cluster_deleted").wait(name="EKSDeepDive", WaiterConfig=FAST)
    assert not control_plane.running()


def test_get_token_signs_for_one_cluster(eks):
    """The token `timoneiro eks get-token` prints is the service's own user's, for that cluster only."""
    made = timoneiro(eks, "eks", "get-token", "--cluster-name", "demo")
    assert made.returncode == 0, made.stderr
    credential = json.loads(made.stdout)
    assert (credential["kind"], credential["apiVersion"]) == ("ExecCredential",
                                                              "client.authentication.k8s.io/v1beta1")
    token = credential["status"]["token"]
    identity = tokens.verify(eks.eks.iam, token, "demo")
    assert identity.arn == eks.server.credentials.principal.arn
    try:
        tokens.verify(eks.eks.iam, token, "other")
    except tokens.TokenError as e:
        assert "SignatureDoesNotMatch" in str(e)
    else:
        raise AssertionError("a token for demo was accepted for other")


def test_update_kubeconfig_errors_as_the_aws_cli(eks):
    missing = timoneiro(eks, "eks", "update-kubeconfig", "--name", "nope")
    assert missing.returncode != 0
    assert "An error occurred (ResourceNotFoundException) when calling the DescribeCluster operation: " \
           "No cluster found for name: nope." in missing.stderr
    assert not eks.kubeconfig.exists()
