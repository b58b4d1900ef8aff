"""EKS clusters through boto3 and the real `aws` CLI: a cluster is a real control plane (its endpoint
answers TLS with the CA DescribeCluster gives), CREATING then ACTIVE, updated one kind of change at a
time, upgraded one minor version at a time (its control plane replaced), tagged, deleted (DELETING, then
gone, its API server stopped), and found again by a restarted service."""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import subprocess
import time
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from eks_testing import EksService

ROLE = "arn:aws:iam::111122223333:role/eksClusterRole"
VPC = {"subnetIds": ["subnet-0a1", "subnet-0b2"], "securityGroupIds": ["sg-01"]}
FAST = {"Delay": 1, "MaxAttempts": 120}


def create(client, name: str, **extra) -> dict:
    return client.create_cluster(name=name, roleArn=ROLE, resourcesVpcConfig=VPC, **extra)["cluster"]


def active(client, name: str) -> dict:
    client.get_waiter("cluster_active").wait(name=name, WaiterConfig=FAST)
    return client.describe_cluster(name=name)["cluster"]


def error_of(call, *args, **kwargs) -> dict:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return caught.value.response


def serves_with_ca(endpoint: str, ca_data: str) -> str:
    """The subject of the certificate the endpoint shows, having verified it against the CA given."""
    context = ssl.create_default_context(cadata=base64.b64decode(ca_data).decode())
    address = urlsplit(endpoint)
    with socket.create_connection((address.hostname, address.port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=address.hostname) as tls:
        return dict(x[0] for x in tls.getpeercert()["subject"])["commonName"]


def listening(endpoint: str) -> bool:
    address = urlsplit(endpoint)
    try:
        socket.create_connection((address.hostname, address.port), timeout=2).close()
    except OSError:
        return False
    return True


def test_create_describe_delete(eks):
    client = eks.client()
    made = create(client, "demo", tags={"team": "platform"}, logging={"clusterLogging": [
        {"types": ["api", "audit"], "enabled": True}]})
    assert made["status"] == "CREATING" and "endpoint" not in made
    assert made["arn"] == f"arn:aws:eks:us-east-1:{eks.eks.account}:cluster/demo"
    cluster = active(client, "demo")
    assert cluster["version"] == "1.32" and cluster["platformVersion"].startswith("eks.")
    assert cluster["endpoint"].startswith("https://127.0.0.1:")
    assert serves_with_ca(cluster["endpoint"], cluster["certificateAuthority"]["data"]) == "kube-apiserver"
    assert cluster["logging"]["clusterLogging"] == [
        {"types": ["api", "audit"], "enabled": True},
        {"types": ["authenticator", "controllerManager", "scheduler"], "enabled": False}]
    assert cluster["resourcesVpcConfig"]["subnetIds"] == VPC["subnetIds"]
    assert cluster["resourcesVpcConfig"]["vpcId"].startswith("vpc-")
    assert cluster["kubernetesNetworkConfig"]["serviceIpv4Cidr"] == "10.100.0.0/16"
    assert cluster["accessConfig"] == {"bootstrapClusterCreatorAdminPermissions": True,
                                       "authenticationMode": "CONFIG_MAP"}
    assert cluster["tags"] == {"team": "platform"}
    assert client.list_clusters()["clusters"] == ["demo"]

    assert client.delete_cluster(name="demo")["cluster"]["status"] == "DELETING"
    client.get_waiter("cluster_deleted").wait(name="demo", WaiterConfig=FAST)
    assert not listening(cluster["endpoint"])
    response = error_of(client.describe_cluster, name="demo")
    assert response["Error"] == {"Code": "ResourceNotFoundException", "Message": "No cluster found for name: demo."}
    assert response["clusterName"] == "demo"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_create_refusals(eks):
    client = eks.client()
    create(client, "one")
    response = error_of(create, client, "one")
    assert (response["Error"]["Code"], response["Error"]["Message"]) == (
        "ResourceInUseException", "Cluster already exists with name: one")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert error_of(create, client, "two", version="1.12")["Error"] == {
        "Code": "InvalidParameterException", "Message": "unsupported Kubernetes version"}
    one_subnet = error_of(client.create_cluster, name="three", roleArn=ROLE,
                          resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    assert one_subnet["Error"]["Message"] == "Subnets specified must be in at least two different AZs"
    assert error_of(create, client, "-bad")["Error"]["Code"] == "InvalidParameterException"
    assert error_of(create, client, "four", kubernetesNetworkConfig={"serviceIpv4Cidr": "8.8.0.0/16"}
                    )["Error"]["Code"] == "InvalidParameterException"
    assert error_of(create, client, "five", accessConfig={"bootstrapClusterCreatorAdminPermissions": False}
                    )["Error"]["Message"] == ("bootstrapClusterCreatorAdminPermissions must be true if cluster "
                                              "authentication mode is set to CONFIG_MAP")
    assert client.list_clusters()["clusters"] == ["one"]


def test_list_pages(eks):
    client = eks.client()
    for name in ("a", "b", "c"):
        create(client, name, bootstrapSelfManagedAddons=False)
    first = client.list_clusters(maxResults=2)
    assert first["clusters"] == ["a", "b"]
    assert client.list_clusters(maxResults=2, nextToken=first["nextToken"])["clusters"] == ["c"]
    assert "nextToken" not in client.list_clusters(maxResults=2, nextToken=first["nextToken"])
    paginated = [n for page in client.get_paginator("list_clusters").paginate(PaginationConfig={"PageSize": 1})
                 for n in page["clusters"]]
    assert paginated == ["a", "b", "c"]


def test_config_updates(eks):
    client = eks.client()
    create(client, "demo", bootstrapSelfManagedAddons=False)
    active(client, "demo")
    update = client.update_cluster_config(name="demo", logging={"clusterLogging": [
        {"types": ["scheduler"], "enabled": True}]})["update"]
    assert (update["type"], update["status"]) == ("LoggingUpdate", "InProgress")
    assert update["params"][0]["type"] == "ClusterLogging"
    done = _wait_update(client, "demo", update["id"])
    assert done["status"] == "Successful"
    logging = client.describe_cluster(name="demo")["cluster"]["logging"]["clusterLogging"]
    assert logging[0] == {"types": ["scheduler"], "enabled": True}
    assert error_of(client.update_cluster_config, name="demo", logging={"clusterLogging": [
        {"types": ["scheduler"], "enabled": True}]})["Error"]["Message"] == \
        "No changes needed for the logging config provided"

    endpoint = client.update_cluster_config(name="demo", resourcesVpcConfig={
        "endpointPrivateAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]})["update"]
    assert endpoint["type"] == "EndpointAccessUpdate"
    _wait_update(client, "demo", endpoint["id"])
    vpc = client.describe_cluster(name="demo")["cluster"]["resourcesVpcConfig"]
    assert (vpc["endpointPrivateAccess"], vpc["publicAccessCidrs"]) == (True, ["203.0.113.0/24"])

    mode = client.update_cluster_config(name="demo", accessConfig={"authenticationMode": "API"})["update"]
    _wait_update(client, "demo", mode["id"])
    assert error_of(client.update_cluster_config, name="demo", accessConfig={
        "authenticationMode": "CONFIG_MAP"})["Error"]["Message"] == \
        "Unsupported authentication mode update from API to CONFIG_MAP"
    assert client.list_updates(name="demo")["updateIds"] == [update["id"], endpoint["id"], mode["id"]]
    assert error_of(client.describe_update, name="demo", updateId="nope")["Error"]["Code"] == \
        "ResourceNotFoundException"


def _wait_update(client, name: str, update_id: str) -> dict:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        update = client.describe_update(name=name, updateId=update_id)["update"]
        if update["status"] != "InProgress":
            return update
        time.sleep(0.1)
    raise AssertionError(f"update {update_id} still in progress")


def test_version_upgrade_replaces_the_control_plane(eks):
    client = eks.client()
    create(client, "demo", version="1.31", bootstrapSelfManagedAddons=False)
    before = active(client, "demo")
    assert error_of(client.update_cluster_version, name="demo", version="1.30")["Error"]["Message"] == \
        "Unsupported Kubernetes minor version update from 1.31 to 1.30"
    update = client.update_cluster_version(name="demo", version="1.32")["update"]
    assert update["type"] == "VersionUpdate"
    assert {p["type"]: p["value"] for p in update["params"]}["Version"] == "1.32"
    assert _wait_update(client, "demo", update["id"])["status"] == "Successful"
    after = client.describe_cluster(name="demo")["cluster"]
    assert (after["version"], after["status"]) == ("1.32", "ACTIVE")
    assert after["endpoint"] == before["endpoint"]
    assert serves_with_ca(after["endpoint"], after["certificateAuthority"]["data"]) == "kube-apiserver"


def test_tags(eks):
    client = eks.client()
    arn = create(client, "demo", tags={"a": "1"}, bootstrapSelfManagedAddons=False)["arn"]
    client.tag_resource(resourceArn=arn, tags={"b": "2"})
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "1", "b": "2"}
    client.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert client.describe_cluster(name="demo")["cluster"]["tags"] == {"b": "2"}
    missing = arn.replace("cluster/demo", "cluster/other")
    assert error_of(client.list_tags_for_resource, resourceArn=missing)["Error"]["Code"] == "NotFoundException"


def test_aws_cli_and_restart(tmp_path):
    home = tmp_path / "eks"
    with EksService(home) as service:
        service.aws("eks", "create-cluster", "--name", "seed", "--role-arn", ROLE,
                    "--resources-vpc-config", "subnetIds=subnet-0a1,subnet-0b2,endpointPublicAccess=true",
                    "--kubernetes-version", "1.32")
        client = service.client()
        active(client, "seed")
        assert service.aws("eks", "describe-cluster", "--name", "seed", "--query", "cluster.status",
                           "--output", "text").stdout.strip() == "ACTIVE"
        assert service.aws_json("eks", "list-clusters") == {"clusters": ["seed"]}
        endpoint = client.describe_cluster(name="seed")["cluster"]["endpoint"]
    assert not listening(endpoint)  # the service stops its clusters
    with EksService(home) as service:  # and finds them again
        cluster = service.client().describe_cluster(name="seed")["cluster"]
        assert (cluster["status"], cluster["endpoint"]) == ("ACTIVE", endpoint)
        assert serves_with_ca(endpoint, cluster["certificateAuthority"]["data"]) == "kube-apiserver"


def test_an_update_a_restart_interrupts_finishes_after_it(tmp_path):
    home = tmp_path / "eks"
    with EksService(home) as service:
        client = service.client()
        create(client, "old", version="1.31")
        active(client, "old")
        update = client.update_cluster_version(name="old", version="1.32")["update"]
    recorded = json.loads((home / "data" / "clusters" / "old" / "eks.json").read_text())
    assert recorded["cluster"]["status"] == "UPDATING"  # stopped halfway
    with EksService(home) as service:
        client = service.client()
        client.get_waiter("cluster_active").wait(name="old", WaiterConfig=FAST)
        assert client.describe_cluster(name="old")["cluster"]["version"] == "1.32"
        assert client.describe_update(name="old", updateId=update["id"])["update"]["status"] == "Successful"


def test_service_cidr_is_the_clusters(eks):
    client = eks.client()
    create(client, "wide", kubernetesNetworkConfig={"serviceIpv4Cidr": "172.20.0.0/16"})
    cluster = active(client, "wide")
    assert cluster["kubernetesNetworkConfig"]["serviceIpv4Cidr"] == "172.20.0.0/16"
    admin = os.path.join(eks.eks.control_plane("wide").data_dir, "super-admin.conf")

    def cluster_ip(name: str) -> str:
        return subprocess.run(["kubectl", "--kubeconfig", admin, "get", "svc", "-A", "--field-selector",
                               f"metadata.name={name}", "-o", "jsonpath={.items[0].spec.clusterIP}"],
                              capture_output=True, text=True, check=True).stdout

    assert cluster_ip("kubernetes") == "172.20.0.1"
    assert cluster_ip("kube-dns") == "172.20.0.10"  # the self-managed coredns, as EKS places it


def test_stopping_the_service_while_a_cluster_starts_leaves_nothing_running(tmp_path):
    with EksService(tmp_path / "eks") as service:
        create(service.client(), "hasty")
        plane = service.eks.control_plane("hasty").data_dir
    assert not _processes_of(plane)  # its supervisor aborted, though it had recorded nothing yet
    with EksService(tmp_path / "eks") as service:  # and the next start creates it after all
        assert active(service.client(), "hasty")["status"] == "ACTIVE"
    assert not _processes_of(plane)


def _processes_of(data_dir: str) -> list[int]:
    """This test's processes whose command line names the data dir."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if data_dir.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            continue
    return found
