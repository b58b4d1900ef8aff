"""The access entries and access policies API through boto3 and the `aws` CLI: EKS's shapes, defaults,
validation, errors and paging, and the RBAC objects by which associated policies take effect in the cluster
(ClusterRoleBindings for the cluster scope, RoleBindings per namespace), gone with their association."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from controller_testing import Api
from eks_testing import EksService

ROLE = "arn:aws:iam::111122223333:role/eksClusterRole"
VPC = {"subnetIds": ["subnet-0a1", "subnet-0b2"], "securityGroupIds": ["sg-01"]}
POLICY = "arn:aws:eks::aws:cluster-access-policy/"
LABEL = "timoneiro.io/access-policy"


def make_cluster(eks: EksService, name: str, **access) -> None:
    client = eks.client()
    client.create_cluster(name=name, roleArn=ROLE, resourcesVpcConfig=VPC, accessConfig=access)
    client.get_waiter("cluster_active").wait(name=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Iterator[EksService]:
    """One service with one cluster, "access", in the API authentication mode."""
    with EksService(tmp_path_factory.mktemp("eks")) as eks:
        make_cluster(eks, "access", authenticationMode="API")
        yield eks


def error(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def rbac(service: EksService, kind: str) -> dict[tuple[str, str], dict]:
    """The cluster's access-policy objects of a kind, by (namespace, name)."""
    api = Api(service.eks.control_plane("access").admin)
    try:
        items = api.get(f"/apis/rbac.authorization.k8s.io/v1/{kind}?labelSelector={LABEL}")["items"]
    finally:
        api.close()
    return {(o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in items}


def test_the_creator_has_cluster_admin_from_the_start(service):
    client, admin = service.client(), service.server.credentials.principal
    entry = client.describe_access_entry(clusterName="access", principalArn=admin.arn)["accessEntry"]
    assert entry["username"] == admin.arn and entry["type"] == "STANDARD" and entry["kubernetesGroups"] == []
    assert entry["accessEntryArn"].startswith(
        f"arn:aws:eks:us-east-1:{service.eks.account}:access-entry/access/user/{service.eks.account}/admin/")
    associated = client.list_associated_access_policies(clusterName="access", principalArn=admin.arn)
    assert [(a["policyArn"], a["accessScope"]) for a in associated["associatedAccessPolicies"]] == \
        [(POLICY + "AmazonEKSClusterAdminPolicy", {"type": "cluster", "namespaces": []})]
    [binding] = [b for b in rbac(service, "clusterrolebindings").values()
                 if b["metadata"]["annotations"]["timoneiro.io/principal-arn"] == admin.arn]
    assert binding["roleRef"]["name"] == "cluster-admin"
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": admin.arn}]


def test_entries_are_made_checked_listed_updated_and_deleted(service):
    client, account = service.client(), service.eks.account
    user = f"arn:aws:iam::{account}:user/carol"
    made = client.create_access_entry(clusterName="access", principalArn=user, kubernetesGroups=["devs"],
                                      tags={"team": "a"}, clientRequestToken="once")["accessEntry"]
    assert (made["username"], made["kubernetesGroups"], made["tags"]) == (user, ["devs"], {"team": "a"})
    assert client.create_access_entry(clusterName="access", principalArn=user,
                                      clientRequestToken="once")["accessEntry"] == made  # a retry
    assert error(client.create_access_entry, clusterName="access", principalArn=user) == (
        "ResourceInUseException", "The specified access entry resource is already in use on this cluster.")

    role = f"arn:aws:iam::{account}:role/teams/deployer"
    assert client.create_access_entry(clusterName="access", principalArn=role)["accessEntry"]["username"] == \
        f"arn:aws:sts::{account}:assumed-role/deployer/{{{{SessionName}}}}"
    node = client.create_access_entry(clusterName="access", principalArn=f"arn:aws:iam::{account}:role/nodes",
                                      type="EC2_LINUX")["accessEntry"]
    assert (node["username"], node["kubernetesGroups"]) == ("system:node:{{EC2PrivateDNSName}}", ["system:nodes"])

    for bad, message in [
        ({"principalArn": "carol"}, "The specified principalArn is invalid: invalid principal."),
        ({"principalArn": f"arn:aws:iam::{account}:role/aws-service-role/eks.amazonaws.com/AWSServiceRoleForAmazonEKS"},
         "The specified principalArn is invalid: invalid principal."),
        ({"principalArn": f"arn:aws:iam::{account}:user/x", "kubernetesGroups": ["system:masters"]},
         "The kubernetes group name system:masters is invalid, it cannot start with system:"),
        ({"principalArn": f"arn:aws:iam::{account}:user/x", "username": "eks:me"},
         "The username eks:me is invalid, it cannot start with eks:"),
        ({"principalArn": f"arn:aws:iam::{account}:role/r", "username": "john{{SessionName}}"},
         "The username john{{SessionName}} is invalid, {{SessionName}} must be preceded by a colon"),
    ]:
        assert error(client.create_access_entry, clusterName="access", **bad) == ("InvalidParameterException", message)
    assert error(client.create_access_entry, clusterName="access", principalArn=f"arn:aws:iam::{account}:role/n2",
                 type="EC2_LINUX", username="me")[0] == "InvalidParameterException"

    listed = client.list_access_entries(clusterName="access", maxResults=2)
    rest = client.list_access_entries(clusterName="access", nextToken=listed["nextToken"])
    assert listed["accessEntries"] + rest["accessEntries"] == [
        service.server.credentials.principal.arn, user, role, f"arn:aws:iam::{account}:role/nodes"]
    assert "nextToken" not in rest

    updated = client.update_access_entry(clusterName="access", principalArn=user, username="carol",
                                         kubernetesGroups=["ops", "devs"])["accessEntry"]
    assert (updated["username"], updated["kubernetesGroups"]) == ("carol", ["ops", "devs"])
    assert updated["modifiedAt"] > made["modifiedAt"] and updated["createdAt"] == made["createdAt"]
    assert error(client.update_access_entry, clusterName="access", principalArn=node["principalArn"],
                 username="x") == ("InvalidParameterException",
                                   'This operation can only be performed on Access Entries with a type of "STANDARD".')

    client.delete_access_entry(clusterName="access", principalArn=user)
    gone = ("ResourceNotFoundException", "The specified principalArn could not be found. You can view your "
            "available access entries with 'list-access-entries'.")
    assert error(client.describe_access_entry, clusterName="access", principalArn=user) == gone
    assert error(client.delete_access_entry, clusterName="access", principalArn=user) == gone
    assert error(client.describe_access_entry, clusterName="nope", principalArn=user)[0] == \
        "ResourceNotFoundException"


def test_policies_are_listed_associated_scoped_and_bound(service):
    client, account = service.client(), service.eks.account
    catalogue = service.aws_json("eks", "list-access-policies")["accessPolicies"]
    names = [p["name"] for p in catalogue]
    assert names == sorted(names) and len(names) == 33
    assert {"AmazonEKSClusterAdminPolicy", "AmazonEKSAdminPolicy", "AmazonEKSEditPolicy", "AmazonEKSViewPolicy",
            "AmazonEKSAdminViewPolicy"} <= set(names)
    assert all(p["arn"] == POLICY + p["name"] for p in catalogue)
    first = client.list_access_policies(maxResults=10)
    assert len(first["accessPolicies"]) == 10 and first["nextToken"]

    dave = f"arn:aws:iam::{account}:user/dave"
    client.create_access_entry(clusterName="access", principalArn=dave)
    view = client.associate_access_policy(
        clusterName="access", principalArn=dave, policyArn=POLICY + "AmazonEKSViewPolicy",
        accessScope={"type": "namespace", "namespaces": ["default", "kube-*"]})
    assert view["clusterName"] == "access" and view["principalArn"] == dave
    assert view["associatedAccessPolicy"]["accessScope"] == {"type": "namespace",
                                                             "namespaces": ["default", "kube-*"]}
    bindings = {key for key, b in rbac(service, "rolebindings").items()
                if b["metadata"]["annotations"]["timoneiro.io/principal-arn"] == dave}
    assert {namespace for namespace, _ in bindings} == {"default", "kube-system", "kube-public", "kube-node-lease"}

    again = client.associate_access_policy(clusterName="access", principalArn=dave,
                                           policyArn=POLICY + "AmazonEKSViewPolicy", accessScope={"type": "cluster"})
    assert again["associatedAccessPolicy"]["associatedAt"] == view["associatedAccessPolicy"]["associatedAt"]
    assert not any(b["metadata"]["annotations"]["timoneiro.io/principal-arn"] == dave
                   for b in rbac(service, "rolebindings").values())
    client.associate_access_policy(clusterName="access", principalArn=dave,
                                   policyArn=POLICY + "AmazonEKSAdminViewPolicy", accessScope={"type": "cluster"})
    roles = [b["roleRef"]["name"] for b in rbac(service, "clusterrolebindings").values()
             if b["metadata"]["annotations"]["timoneiro.io/principal-arn"] == dave]
    assert sorted(roles) == ["eks:access-policy:AmazonEKSAdminViewPolicy", "view"]
    own = rbac(service, "clusterroles")[("", "eks:access-policy:AmazonEKSAdminViewPolicy")]
    assert own["rules"] == [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}]
    assert client.list_access_entries(clusterName="access", associatedPolicyArn=POLICY + "AmazonEKSViewPolicy"
                                      )["accessEntries"] == [dave]
    page = client.list_associated_access_policies(clusterName="access", principalArn=dave, maxResults=1)
    assert len(page["associatedAccessPolicies"]) == 1 and page["nextToken"]

    for scope, policy in [({"type": "namespace"}, "AmazonEKSViewPolicy"),
                          ({"type": "cluster", "namespaces": ["a"]}, "AmazonEKSViewPolicy"),
                          ({"type": "namespace", "namespaces": ["Not_A_Name"]}, "AmazonEKSViewPolicy"),
                          ({"type": "cluster"}, "AmazonEKSNope"),
                          ({"type": "cluster"}, "AmazonEKSAutoNodePolicy")]:
        assert error(client.associate_access_policy, clusterName="access", principalArn=dave,
                     policyArn=POLICY + policy, accessScope=scope)[0] == "InvalidParameterException"

    client.disassociate_access_policy(clusterName="access", principalArn=dave, policyArn=POLICY + "AmazonEKSViewPolicy")
    assert error(client.disassociate_access_policy, clusterName="access", principalArn=dave,
                 policyArn=POLICY + "AmazonEKSViewPolicy")[0] == "ResourceNotFoundException"
    client.delete_access_entry(clusterName="access", principalArn=dave)
    assert not any(b["metadata"]["annotations"]["timoneiro.io/principal-arn"] == dave
                   for b in rbac(service, "clusterrolebindings").values())
    assert ("", "eks:access-policy:AmazonEKSAdminViewPolicy") not in rbac(service, "clusterroles")


def test_the_config_map_mode_has_no_entries_api_and_creators_may_opt_out(service):
    make_cluster(service, "legacy")  # CONFIG_MAP, the API's default
    make_cluster(service, "bare", authenticationMode="API", bootstrapClusterCreatorAdminPermissions=False)
    client, arn = service.client(), service.server.credentials.principal.arn
    refused = ("InvalidRequestException", "The cluster's authentication mode must be set to one of "
               "[API, API_AND_CONFIG_MAP] to perform this operation.")
    assert error(client.list_access_entries, clusterName="legacy") == refused
    assert error(client.create_access_entry, clusterName="legacy", principalArn=arn) == refused
    assert error(client.associate_access_policy, clusterName="legacy", principalArn=arn,
                 policyArn=POLICY + "AmazonEKSViewPolicy", accessScope={"type": "cluster"}) == refused
    assert client.list_access_entries(clusterName="bare")["accessEntries"] == []
    for name in ("legacy", "bare"):
        client.delete_cluster(name=name)
        client.get_waiter("cluster_deleted").wait(name=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
