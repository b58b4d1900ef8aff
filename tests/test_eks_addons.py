"""EKS add-ons through boto3 and the real `aws` CLI: the catalogue DescribeAddonVersions filters and pages,
the configuration schemas, and add-ons as real objects in a cluster's kube-system (kubectl sees them): the
self-managed ones a new cluster gets, DaemonSet add-ons ACTIVE, CoreDNS DEGRADED with no node to run on and
ACTIVE once a node group has nodes, updates of version and configurationValues reflected in the objects,
resolveConflicts against fields someone else changed, deletion with and without preserve, EKS's errors."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from botocore.exceptions import ClientError, WaiterError

from eks_testing import EksService
from timoneiro.eks import addon_config, versions
from timoneiro.eks.addon_catalogue import ADDONS
from timoneiro.eks.errors import AwsError

ROLE = "arn:aws:iam::111122223333:role/eksClusterRole"
NODE_ROLE = "arn:aws:iam::111122223333:role/eksNodeRole"
VPC = {"subnetIds": ["subnet-0a1", "subnet-0b2"]}
FAST = {"Delay": 1, "MaxAttempts": 120}
WAIT = 120.0  # seconds a test waits for a status before it fails


def cluster(eks, name: str, **extra) -> Path:
    """Create a cluster, wait for ACTIVE; the path of its super-admin kubeconfig (ControlPlane.admin's)."""
    client = eks.client()
    client.create_cluster(name=name, roleArn=ROLE, resourcesVpcConfig=VPC, **extra)
    client.get_waiter("cluster_active").wait(name=name, WaiterConfig=FAST)
    return Path(eks.eks.control_plane(name).data_dir) / "super-admin.conf"


def kubectl(kubeconfig: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "-n", "kube-system", *args],
                          capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {proc.stderr}")
    return proc


def get(kubeconfig: Path, kind: str, name: str) -> dict:
    return json.loads(kubectl(kubeconfig, "get", kind, name, "-o", "json").stdout)


def settled(client, cluster_name: str, addon: str, away_from: tuple[str, ...] = ("CREATING", "UPDATING")
            ) -> dict:
    """The add-on once its status has left `away_from`."""
    deadline = time.monotonic() + WAIT
    while True:
        found = client.describe_addon(clusterName=cluster_name, addonName=addon)["addon"]
        if found["status"] not in away_from or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def update_done(client, cluster_name: str, addon: str, update_id: str) -> dict:
    deadline = time.monotonic() + WAIT
    while True:
        update = client.describe_update(name=cluster_name, updateId=update_id, addonName=addon)["update"]
        if update["status"] != "InProgress" or time.monotonic() > deadline:
            return update
        time.sleep(0.2)


def error_of(call, **kwargs) -> dict:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]


# the catalogue


def test_describe_addon_versions_filters_and_pages(eks):
    client = eks.client()
    everything = client.describe_addon_versions()["addons"]
    names = [a["addonName"] for a in everything]
    assert sorted(names) == ["coredns", "eks-pod-identity-agent", "kube-proxy", "vpc-cni"]
    assert all(a["publisher"] == "eks" and a["owner"] == "aws" for a in everything)

    for_132 = {a["addonName"]: a for a in client.describe_addon_versions(kubernetesVersion="1.32")["addons"]}
    coredns = for_132["coredns"]
    assert coredns["type"] == "dns"
    defaults = [v["addonVersion"] for v in coredns["addonVersions"]
                if v["compatibilities"][0]["defaultVersion"]]
    assert defaults == ["v1.11.4-eksbuild.2"]
    assert all(v["compatibilities"] == [{"clusterVersion": "1.32", "platformVersions": ["*"],
                                         "defaultVersion": v["addonVersion"] in defaults}]
               and v["architecture"] == ["amd64", "arm64"] for v in coredns["addonVersions"])
    assert {v["addonVersion"].split("-")[0] for v in for_132["kube-proxy"]["addonVersions"]} == {"v1.32.0"}
    assert for_132["vpc-cni"]["addonVersions"][0]["requiresIamPermissions"] is True

    dns_only = client.describe_addon_versions(types=["dns"])["addons"]
    assert [a["addonName"] for a in dns_only] == ["coredns"]
    assert client.describe_addon_versions(owners=["aws-marketplace"])["addons"] == []
    cni = client.describe_addon_versions(publishers=["eks"], addonName="vpc-cni")["addons"]
    assert [(a["addonName"], a["type"]) for a in cni] == [("vpc-cni", "networking")]
    assert client.describe_addon_versions(addonName="metrics-server")["addons"] == []

    pages = list(client.get_paginator("describe_addon_versions").paginate(PaginationConfig={"PageSize": 1}))
    assert [[a["addonName"] for a in p["addons"]] for p in pages] == [[name] for name in names]

    proxies = eks.aws_json("eks", "describe-addon-versions", "--kubernetes-version", "1.31",
                           "--addon-name", "kube-proxy", "--query",
                           "addons[0].addonVersions[?compatibilities[0].defaultVersion].addonVersion")
    assert proxies == ["v1.31.0-eksbuild.5"]


def test_catalogue_covers_every_supported_kubernetes_version():
    for kubernetes in versions.SUPPORTED:
        for addon in ADDONS.values():
            assert kubernetes in addon.default(kubernetes).clusters
            assert len([v for v in addon.versions if kubernetes in v.default_for]) == 1


def test_describe_addon_configuration(eks):
    client = eks.client()
    found = client.describe_addon_configuration(addonName="coredns", addonVersion="v1.11.4-eksbuild.2")
    schema = json.loads(found["configurationSchema"])
    assert schema["definitions"]["Coredns"]["properties"]["replicaCount"]["type"] == "integer"
    cni = eks.aws_json("eks", "describe-addon-configuration", "--addon-name", "vpc-cni",
                       "--addon-version", "v1.19.2-eksbuild.1")
    assert cni["podIdentityConfiguration"] == [{"serviceAccount": "aws-node", "recommendedManagedPolicies": [
        "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"]}]
    refused = error_of(client.describe_addon_configuration, addonName="coredns", addonVersion="v9.9.9")
    assert refused == {"Code": "InvalidParameterException",
                       "Message": "Addon version specified is not supported"}


def test_configuration_values_are_checked_against_the_schema():
    assert addon_config.parse("coredns", "replicaCount: 3\ncorefile: |\n  .:53 {}\n", "c") == {
        "replicaCount": 3, "corefile": ".:53 {}\n"}
    env = {"env": {"WARM_IP_TARGET": "5"}}
    assert addon_config.parse("vpc-cni", json.dumps(env), "c") == env
    assert addon_config.parse("kube-proxy", "", "c") == {}
    cases = {
        ("coredns", '{"replicaCount": "3"}'): "[$.replicaCount: string found, integer expected]",
        ("coredns", '{"replicaCount": 0}'): "[$.replicaCount: must have a minimum value of 1]",
        ("coredns", '{"nodeSelector": {"a": "b"}, "replicas": 2}'):
            "[$.replicas: is not defined in the schema and the schema does not allow additional properties]",
        ("kube-proxy", "mode: userspace"):
            "[$.mode: does not have a value in the enumeration [iptables, ipvs]]",
        ("vpc-cni", '{"enableNetworkPolicy": true}'):
            "[$.enableNetworkPolicy: boolean found, string expected]",
        ("vpc-cni", '{"tolerations": [{"operator": "Maybe"}]}'):
            "[$.tolerations[0].operator: does not have a value in the enumeration [Exists, Equal]]",
        ("coredns", "just text"): "[$: string found, object expected]",
    }
    for (addon, text), errors in cases.items():
        with pytest.raises(AwsError) as caught:
            addon_config.parse(addon, text, "c")
        assert caught.value.code == "InvalidParameterException"
        assert caught.value.message == ("ConfigurationValue provided in request is not supported: "
                                        f"Json schema validation failed with error: {errors}")
    with pytest.raises(AwsError, match="^ConfigurationValue provided in request is not supported: Invalid"):
        addon_config.parse("coredns", "{broken", "c")


# add-ons in clusters


def test_new_cluster_gets_self_managed_addons(eks):
    admin = cluster(eks, "selfmanaged")
    client = eks.client()
    assert client.list_addons(clusterName="selfmanaged")["addons"] == []
    daemonsets = json.loads(kubectl(admin, "get", "ds", "-o", "json").stdout)["items"]
    images = {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"]
              for d in daemonsets}
    registry = "602401143452.dkr.ecr.us-east-1.amazonaws.com"
    assert images == {"aws-node": f"{registry}/amazon-k8s-cni:v1.19.0-eksbuild.1",
                      "kube-proxy": f"{registry}/eks/kube-proxy:v1.32.0-minimal-eksbuild.2"}
    coredns = get(admin, "deployment", "coredns")
    assert coredns["spec"]["replicas"] == 2
    assert coredns["metadata"]["labels"]["eks.amazonaws.com/component"] == "coredns"
    pod = coredns["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert {"key": "CriticalAddonsOnly", "operator": "Exists"} in pod["tolerations"]
    assert pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0][
        "podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert get(admin, "service", "kube-dns")["spec"]["clusterIP"] == "10.100.0.10"
    assert "Corefile" in get(admin, "configmap", "coredns")["data"]
    # the PodDisruptionBudget is the CoreDNS add-on's, not the self-managed CoreDNS's
    assert "NotFound" in kubectl(admin, "get", "pdb", "coredns", check=False).stderr
    assert get(admin, "clusterrole", "system:coredns")["rules"]


def test_addon_lifecycle_without_nodes(eks):
    admin = cluster(eks, "bare", bootstrapSelfManagedAddons=False)
    client = eks.client()
    assert kubectl(admin, "get", "deployment", "coredns", check=False).returncode != 0  # nothing self-managed

    role = "arn:aws:iam::111122223333:role/AmazonEKSVPCCNIRole"
    made = eks.aws_json("eks", "create-addon", "--cluster-name", "bare", "--addon-name", "vpc-cni",
                        "--service-account-role-arn", role, "--tags", "team=net")["addon"]
    assert made["status"] == "CREATING" and made["addonVersion"] == "v1.19.0-eksbuild.1"
    assert re.fullmatch(rf"arn:aws:eks:us-east-1:{eks.eks.account}:addon/bare/vpc-cni/[0-9a-f-]{{36}}",
                        made["addonArn"])
    assert made["health"] == {"issues": []} and made["tags"] == {"team": "net"}
    assert made["serviceAccountRoleArn"] == role
    client.create_addon(clusterName="bare", addonName="kube-proxy", addonVersion="v1.32.0-eksbuild.2")
    for name in ("vpc-cni", "kube-proxy"):  # DaemonSets with no node have every pod they want: none
        client.get_waiter("addon_active").wait(clusterName="bare", addonName=name, WaiterConfig=FAST)
    assert get(admin, "daemonset", "aws-node")["status"]["desiredNumberScheduled"] == 0
    assert get(admin, "serviceaccount", "aws-node")["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": role}  # IRSA
    assert get(admin, "crd", "eniconfigs.crd.k8s.amazonaws.com")["spec"]["scope"] == "Cluster"
    config = yaml.safe_load(get(admin, "configmap", "kube-proxy")["data"]["kubeconfig"])
    endpoint = client.describe_cluster(name="bare")["cluster"]["endpoint"]
    assert config["clusters"][0]["cluster"]["server"] == endpoint

    client.create_addon(clusterName="bare", addonName="coredns")
    coredns = settled(client, "bare", "coredns")
    assert coredns["status"] == "DEGRADED"
    assert coredns["health"]["issues"] == [{
        "code": "InsufficientNumberOfReplicas", "resourceIds": [],
        "message": "The add-on is unhealthy because it doesn't have the desired number of replicas."}]
    with pytest.raises(WaiterError):  # DEGRADED is one of the waiter's failure states
        client.get_waiter("addon_active").wait(clusterName="bare", addonName="coredns", WaiterConfig=FAST)
    pods = json.loads(kubectl(admin, "get", "pods", "-l", "k8s-app=kube-dns", "-o", "json").stdout)["items"]
    assert len(pods) == 2 and {p["status"]["phase"] for p in pods} == {"Pending"}
    assert get(admin, "pdb", "coredns")["spec"]["maxUnavailable"] == 1
    assert client.list_addons(clusterName="bare")["addons"] == ["coredns", "kube-proxy", "vpc-cni"]
    assert [p["addons"] for p in client.get_paginator("list_addons").paginate(
        clusterName="bare", PaginationConfig={"PageSize": 2})] == [["coredns", "kube-proxy"], ["vpc-cni"]]

    # configurationValues: kube-proxy in IPVS mode, an Update the API reports
    update = client.update_addon(clusterName="bare", addonName="kube-proxy", resolveConflicts="OVERWRITE",
                                 configurationValues='{"mode": "ipvs"}')["update"]
    assert update["type"] == "AddonUpdate" and update["status"] == "InProgress"
    assert update["params"] == [{"type": "ResolveConflicts", "value": "OVERWRITE"},
                                {"type": "ConfigurationValues", "value": '{"mode": "ipvs"}'}]
    assert update_done(client, "bare", "kube-proxy", update["id"])["status"] == "Successful"
    assert client.list_updates(name="bare", addonName="kube-proxy")["updateIds"] == [update["id"]]
    assert yaml.safe_load(get(admin, "configmap", "kube-proxy-config")["data"]["config"])["mode"] == "ipvs"
    proxy = client.describe_addon(clusterName="bare", addonName="kube-proxy")["addon"]
    assert proxy["status"] == "ACTIVE" and proxy["configurationValues"] == '{"mode": "ipvs"}'

    # deletion: the objects go, unless preserved
    assert client.delete_addon(clusterName="bare", addonName="vpc-cni")["addon"]["status"] == "DELETING"
    client.get_waiter("addon_deleted").wait(clusterName="bare", addonName="vpc-cni", WaiterConfig=FAST)
    assert "NotFound" in kubectl(admin, "get", "daemonset", "aws-node", check=False).stderr
    eks.aws("eks", "delete-addon", "--cluster-name", "bare", "--addon-name", "kube-proxy", "--preserve")
    client.get_waiter("addon_deleted").wait(clusterName="bare", addonName="kube-proxy", WaiterConfig=FAST)
    assert get(admin, "daemonset", "kube-proxy")["metadata"]["name"] == "kube-proxy"
    assert client.list_addons(clusterName="bare")["addons"] == ["coredns"]


def test_addon_errors(eks):
    cluster(eks, "errs", bootstrapSelfManagedAddons=False)
    client = eks.client()
    client.create_addon(clusterName="errs", addonName="kube-proxy")
    client.get_waiter("addon_active").wait(clusterName="errs", addonName="kube-proxy", WaiterConfig=FAST)
    assert error_of(client.create_addon, clusterName="errs", addonName="kube-proxy") == {
        "Code": "ResourceInUseException", "Message": "Addon already exists."}
    assert error_of(client.describe_addon, clusterName="errs", addonName="coredns") == {
        "Code": "ResourceNotFoundException", "Message": "No addon: coredns found in cluster: errs"}
    assert error_of(client.delete_addon, clusterName="errs", addonName="coredns")["Code"] == \
        "ResourceNotFoundException"
    assert error_of(client.describe_addon, clusterName="nope", addonName="coredns") == {
        "Code": "ResourceNotFoundException", "Message": "No cluster found for name: nope."}
    assert error_of(client.create_addon, clusterName="errs", addonName="made-up") == {
        "Code": "InvalidParameterException",
        "Message": "Addon made-up specified is not supported in 1.32 kubernetes version"}
    unsupported = {"Code": "InvalidParameterException", "Message": "Addon version specified is not supported"}
    assert error_of(client.create_addon, clusterName="errs", addonName="coredns",
                    addonVersion="v0.0.1-eksbuild.1") == unsupported  # no such version
    assert error_of(client.update_addon, clusterName="errs", addonName="kube-proxy",
                    addonVersion="v1.31.3-eksbuild.2") == unsupported  # Kubernetes 1.31's
    failed = eks.aws("eks", "create-addon", "--cluster-name", "errs", "--addon-name", "coredns",
                     "--configuration-values", '{"replicaCount": "two"}', check=False)
    assert failed.returncode != 0 and "InvalidParameterException" in failed.stderr
    assert "[$.replicaCount: string found, integer expected]" in failed.stderr
    assert client.list_addons(clusterName="errs")["addons"] == ["kube-proxy"]


def test_resolve_conflicts(eks):
    admin = cluster(eks, "conflicts")  # the self-managed kube-proxy is there
    client = eks.client()
    original = get(admin, "configmap", "kube-proxy-config")["data"]["config"]
    edited = original.replace("mode: iptables", "mode: ipvs")
    kubectl(admin, "patch", "configmap", "kube-proxy-config", "--type", "merge",
            "-p", json.dumps({"data": {"config": edited}}))

    client.create_addon(clusterName="conflicts", addonName="kube-proxy")  # resolveConflicts NONE
    failed = settled(client, "conflicts", "kube-proxy")
    assert failed["status"] == "CREATE_FAILED"
    assert failed["health"]["issues"] == [{
        "code": "ConfigurationConflict", "resourceIds": [],
        "message": "Conflicts found when trying to apply. Will not continue due to resolve conflicts mode. "
                   "Conflicts:\nConfigMap kube-proxy-config - .data.config"}]
    assert get(admin, "configmap", "kube-proxy-config")["data"]["config"] == edited  # nothing changed
    client.delete_addon(clusterName="conflicts", addonName="kube-proxy")
    client.get_waiter("addon_deleted").wait(clusterName="conflicts", addonName="kube-proxy",
                                            WaiterConfig=FAST)

    client.create_addon(clusterName="conflicts", addonName="kube-proxy", resolveConflicts="OVERWRITE")
    client.get_waiter("addon_active").wait(clusterName="conflicts", addonName="kube-proxy", WaiterConfig=FAST)
    assert "mode: iptables" in get(admin, "configmap", "kube-proxy-config")["data"]["config"]

    kubectl(admin, "patch", "configmap", "kube-proxy-config", "--type", "merge",
            "-p", json.dumps({"data": {"config": edited}}))
    cpu = '{"resources": {"requests": {"cpu": "200m"}}}'
    refused = client.update_addon(clusterName="conflicts", addonName="kube-proxy", configurationValues=cpu,
                                  resolveConflicts="NONE")["update"]
    done = update_done(client, "conflicts", "kube-proxy", refused["id"])
    assert done["status"] == "Failed" and done["errors"][0]["errorCode"] == "ConfigurationConflict"
    assert settled(client, "conflicts", "kube-proxy")["status"] == "UPDATE_FAILED"

    kept = client.update_addon(clusterName="conflicts", addonName="kube-proxy", configurationValues=cpu,
                               resolveConflicts="PRESERVE")["update"]
    assert update_done(client, "conflicts", "kube-proxy", kept["id"])["status"] == "Successful"
    assert get(admin, "configmap", "kube-proxy-config")["data"]["config"] == edited  # the user's edit stays
    container = get(admin, "daemonset", "kube-proxy")["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["requests"]["cpu"] == "200m"  # the rest is applied
    assert settled(client, "conflicts", "kube-proxy")["status"] == "ACTIVE"


def test_coredns_runs_on_a_node_group(eks):
    admin = cluster(eks, "withnodes")
    client = eks.client()
    client.create_addon(clusterName="withnodes", addonName="coredns", addonVersion="v1.11.3-eksbuild.2",
                        configurationValues='{"podDisruptionBudget": {"enabled": false}}',
                        resolveConflicts="OVERWRITE")
    assert settled(client, "withnodes", "coredns")["status"] == "DEGRADED"
    client.create_nodegroup(clusterName="withnodes", nodegroupName="ng", nodeRole=NODE_ROLE,
                            subnets=VPC["subnetIds"],
                            scalingConfig={"minSize": 1, "maxSize": 2, "desiredSize": 1})
    client.get_waiter("nodegroup_active").wait(clusterName="withnodes", nodegroupName="ng", WaiterConfig=FAST)
    assert settled(client, "withnodes", "coredns", away_from=("DEGRADED",))["status"] == "ACTIVE"
    for agent in ("aws-node", "kube-proxy"):  # the self-managed ones: on the node too
        kubectl(admin, "rollout", "status", "daemonset", agent, "--timeout=120s")
    pods = json.loads(kubectl(admin, "get", "pods", "-o", "json").stdout)["items"]
    running = sorted(p["metadata"]["labels"]["k8s-app"] for p in pods if p["status"]["phase"] == "Running")
    assert running == ["aws-node", "kube-dns", "kube-dns", "kube-proxy"]
    assert "NotFound" in kubectl(admin, "get", "pdb", "coredns", check=False).stderr

    update = eks.aws_json("eks", "update-addon", "--cluster-name", "withnodes", "--addon-name", "coredns",
                          "--addon-version", "v1.11.4-eksbuild.2", "--configuration-values", "replicaCount: 3"
                          )["update"]
    assert update_done(client, "withnodes", "coredns", update["id"])["status"] == "Successful"
    deployment = get(admin, "deployment", "coredns")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/coredns:v1.11.4-eksbuild.2"
    assert deployment["status"]["availableReplicas"] == 3
    addon = client.describe_addon(clusterName="withnodes", addonName="coredns")["addon"]
    assert (addon["status"], addon["addonVersion"]) == ("ACTIVE", "v1.11.4-eksbuild.2")


def test_addons_outlive_a_restart(tmp_path):
    home = tmp_path / "eks"
    with EksService(home) as service:
        cluster(service, "kept", bootstrapSelfManagedAddons=False)
        client = service.client()
        arn = client.create_addon(clusterName="kept", addonName="kube-proxy")["addon"]["addonArn"]
        client.get_waiter("addon_active").wait(clusterName="kept", addonName="kube-proxy", WaiterConfig=FAST)
    with EksService(home) as service:  # the add-on is found again, and followed again
        client = service.client()
        addon = client.describe_addon(clusterName="kept", addonName="kube-proxy")["addon"]
        assert (addon["addonArn"], addon["status"]) == (arn, "ACTIVE")
        update = client.update_addon(clusterName="kept", addonName="kube-proxy",
                                     configurationValues="mode: ipvs")["update"]
        assert update_done(client, "kept", "kube-proxy", update["id"])["status"] == "Successful"
        admin = Path(service.eks.control_plane("kept").data_dir) / "super-admin.conf"
        assert "mode: ipvs" in get(admin, "configmap", "kube-proxy-config")["data"]["config"]


def test_kube_proxy_follows_a_cluster_upgrade(eks):
    admin = cluster(eks, "upgraded", version="1.31", bootstrapSelfManagedAddons=False)
    client = eks.client()
    client.create_addon(clusterName="upgraded", addonName="kube-proxy")
    client.get_waiter("addon_active").wait(clusterName="upgraded", addonName="kube-proxy", WaiterConfig=FAST)
    assert client.describe_addon(clusterName="upgraded", addonName="kube-proxy")["addon"]["addonVersion"] == \
        "v1.31.0-eksbuild.5"
    refused = error_of(client.update_addon, clusterName="upgraded", addonName="kube-proxy",
                       addonVersion="v1.32.0-eksbuild.2")  # not on Kubernetes 1.31
    assert refused["Message"] == "Addon version specified is not supported"

    client.update_cluster_version(name="upgraded", version="1.32")
    client.get_waiter("cluster_active").wait(name="upgraded", WaiterConfig=FAST)
    update = client.update_addon(clusterName="upgraded", addonName="kube-proxy",
                                 addonVersion="v1.32.0-eksbuild.2")["update"]
    assert update["params"] == [{"type": "AddonVersion", "value": "v1.32.0-eksbuild.2"}]
    assert update_done(client, "upgraded", "kube-proxy", update["id"])["status"] == "Successful"
    image = get(admin, "daemonset", "kube-proxy")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/kube-proxy:v1.32.0-eksbuild.2"
