"""The instance catalogue (max pods by the VPC CNI formula against EKS's published eni-max-pods.txt, the EKS
AMI's kubelet reservations), and the Auto Scaling API over the groups of a cluster's document."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from conftest import Kubectl
from controller_testing import eventually
from eks_testing import EksService
from timoneiro.eks import instances
from timoneiro.eks.errors import AwsError
from timoneiro.eks.iam import Principal
from timoneiro.eks.operations import Request, load_all
from timoneiro.eks.service import Eks
from timoneiro.eks.state import new_doc

# amazon-eks-ami's eni-max-pods.txt, the values EKS nodes run with
PUBLISHED_MAX_PODS = {
    "t3.nano": 4, "t3.micro": 4, "t3.small": 11, "t3.medium": 17, "t3.large": 35, "t3.xlarge": 58,
    "t3.2xlarge": 58, "t3a.small": 8, "t3a.medium": 17, "t4g.nano": 4, "t4g.small": 11, "t4g.medium": 17,
    "t4g.large": 35, "m5.large": 29, "m5.xlarge": 58, "m5.2xlarge": 58, "m5.4xlarge": 234, "m6i.large": 29,
    "m7i.xlarge": 58, "c5.large": 29, "c6i.4xlarge": 234, "r5.2xlarge": 58, "r6i.large": 29, "m6g.medium": 8,
    "m7g.large": 29, "c6g.medium": 8, "c7g.xlarge": 58, "r6g.4xlarge": 234,
}


@pytest.mark.parametrize(("name", "published"), sorted(PUBLISHED_MAX_PODS.items()))
def test_max_pods_by_the_formula_match_eks(name: str, published: int) -> None:
    assert instances.catalogue()[name].max_pods == published


def test_catalogue_figures_are_ec2s() -> None:
    t = instances.lookup("m5.xlarge")
    assert (t.vcpus, t.memory_mib, t.arch, t.enis, t.ips_per_eni) == (4, 16384, "x86_64", 4, 15)
    g = instances.lookup("m6g.medium", "AL2023_ARM_64_STANDARD")
    assert (g.vcpus, g.memory_mib, g.arch) == (1, 4096, "arm64")
    assert instances.lookup(instances.DEFAULT).max_pods == 17
    assert {t.arch for t in instances.catalogue().values()} == {"x86_64", "arm64"}


@pytest.mark.parametrize(("name", "ami_type"), [("t4g.medium", "AL2_x86_64"), ("m5.large", "AL2_ARM_64"),
                                                ("m5.huge", "AL2023_x86_64_STANDARD")])
def test_unknown_or_wrong_architecture_is_eks_invalid_parameter(name: str, ami_type: str) -> None:
    with pytest.raises(AwsError) as e:
        instances.lookup(name, ami_type)
    assert (e.value.code, e.value.status) == ("InvalidParameterException", 400)
    assert e.value.message == f"[{name}] is not a valid instance type for requested amiType {ami_type}"


def test_custom_ami_takes_any_architecture() -> None:
    assert instances.lookup("t4g.small", "CUSTOM").arch == "arm64"


def test_kubelet_reservations_follow_the_eks_ami() -> None:
    # cpu: 6% of the first core, 1% of the second, 0.5% of cores 3-4, 0.25% above; memory 255Mi + 11Mi/pod
    assert instances.kube_reserved(instances.lookup("t3.medium")) == {
        "cpu": "70m", "ephemeral-storage": "1Gi", "memory": "442Mi"}
    assert instances.reserved_millicores(instances.lookup("m5.xlarge")) == 80
    assert instances.reserved_millicores(instances.lookup("m5.2xlarge")) == 90
    assert instances.reserved_millicores(instances.lookup("m5.4xlarge")) == 110
    assert instances.reserved_millicores(instances.lookup("m6g.medium", "AL2_ARM_64")) == 60
    m5 = instances.lookup("m5.large")
    assert instances.capacity(m5) == {"cpu": "2", "memory": "8192Mi", "pods": "29"}
    # 8192 - (255 + 11 * 29) - 100 (evictionHard)
    assert instances.allocatable(m5) == {"cpu": "1930m", "memory": "7518Mi", "pods": "29"}


# The API over a document built here, as the node groups keep it

CLUSTER, NODEGROUP, GROUP = "demo", "ng-1", "eks-ng-1-0c4b1f2e-1111-2222-3333-444455556666"


def _group(name: str, cluster: str, nodegroup: str, instance_ids: list[str]) -> dict:
    arn = f"arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:uuid:autoScalingGroupName/{name}"
    return {
        "AutoScalingGroupName": name, "AutoScalingGroupARN": arn, "MinSize": 1, "MaxSize": 3,
        "DesiredCapacity": len(instance_ids), "DefaultCooldown": 300, "AvailabilityZones": ["us-east-1a"],
        "HealthCheckType": "EC2", "HealthCheckGracePeriod": 15, "CreatedTime": 1700000000.0,
        "Instances": [{"InstanceId": i, "InstanceType": "t3.medium", "AvailabilityZone": "us-east-1a",
                       "LifecycleState": "InService", "HealthStatus": "Healthy", "ProtectedFromScaleIn": False}
                      for i in instance_ids],
        "Tags": [{"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": k, "Value": v,
                  "PropagateAtLaunch": True}
                 for k, v in (("eks:cluster-name", cluster), ("eks:nodegroup-name", nodegroup),
                              (f"kubernetes.io/cluster/{cluster}", "owned"))],
        "_activities": [
            {"ActivityId": f"{name}-{n}", "Description": f"Launching a new EC2 instance: {i}",
             "Cause": "At 2023-11-14T22:13:20Z an instance was started in response to a difference between "
                      "desired and actual capacity, increasing the capacity from 0 to 1.",
             "StartTime": 1700000000.0 + 60 * n, "EndTime": 1700000030.0 + 60 * n, "StatusCode": "Successful",
             "Progress": 100, "Details": "{}"}
            for n, i in enumerate(instance_ids)],
    }


@pytest.fixture
def service(tmp_path) -> Eks:
    load_all()
    service = Eks(str(tmp_path))
    for cluster, nodegroups in ((CLUSTER, {NODEGROUP: ["i-0a", "i-0b"]}), ("other", {"workers": ["i-0c"]})):
        doc = new_doc({"name": cluster})
        for nodegroup, ids in nodegroups.items():
            name = GROUP if nodegroup == NODEGROUP else f"eks-{nodegroup}-9"
            doc["autoScalingGroups"][name] = _group(name, cluster, nodegroup, ids)
            doc["nodegroups"][nodegroup] = {"nodegroupName": nodegroup,
                                            "resources": {"autoScalingGroups": [{"name": name}]}}
        service.store.add(doc)
    return service


async def call(service: Eks, name: str, **params) -> dict:
    from timoneiro.eks.operations import OPERATIONS

    principal = Principal("AKIAEXAMPLE", "arn:aws:iam::123456789012:user/admin", "AIDAEXAMPLE", "123456789012")
    return await OPERATIONS[("autoscaling", name)](service, Request(principal, "us-east-1", params))


async def error(service: Eks, name: str, **params) -> AwsError:
    with pytest.raises(AwsError) as e:
        await call(service, name, **params)
    return e.value


async def test_describe_groups_by_name_and_tag_filters(service: Eks) -> None:
    every = await call(service, "DescribeAutoScalingGroups")
    assert [g["AutoScalingGroupName"] for g in every["AutoScalingGroups"]] == [GROUP, "eks-workers-9"]
    assert every["NextToken"] is None
    assert all(not k.startswith("_") for g in every["AutoScalingGroups"] for k in g)
    named = await call(service, "DescribeAutoScalingGroups", AutoScalingGroupNames=[GROUP, "nope"])
    assert [g["AutoScalingGroupName"] for g in named["AutoScalingGroups"]] == [GROUP]
    assert len(named["AutoScalingGroups"][0]["Instances"]) == 2
    by_tag = await call(service, "DescribeAutoScalingGroups",
                        Filters=[{"Name": "tag:eks:cluster-name", "Values": ["other", "third"]}])
    assert [g["AutoScalingGroupName"] for g in by_tag["AutoScalingGroups"]] == ["eks-workers-9"]
    both = await call(service, "DescribeAutoScalingGroups",
                      Filters=[{"Name": "tag-key", "Values": ["eks:nodegroup-name"]},
                               {"Name": "tag-value", "Values": [NODEGROUP]}])
    assert [g["AutoScalingGroupName"] for g in both["AutoScalingGroups"]] == [GROUP]
    none = await call(service, "DescribeAutoScalingGroups",
                      Filters=[{"Name": "tag:eks:cluster-name", "Values": [CLUSTER]},
                               {"Name": "tag-key", "Values": ["missing"]}])
    assert none["AutoScalingGroups"] == []
    bare = await call(service, "DescribeAutoScalingGroups", AutoScalingGroupNames=[GROUP], IncludeInstances=False)
    assert "Instances" not in bare["AutoScalingGroups"][0]
    assert (await error(service, "DescribeAutoScalingGroups", Filters=[{"Name": "bogus", "Values": []}])).code \
        == "ValidationError"


async def test_pages_follow_next_token(service: Eks) -> None:
    first = await call(service, "DescribeAutoScalingGroups", MaxRecords=1)
    assert [g["AutoScalingGroupName"] for g in first["AutoScalingGroups"]] == [GROUP]
    second = await call(service, "DescribeAutoScalingGroups", MaxRecords=1, NextToken=first["NextToken"])
    assert [g["AutoScalingGroupName"] for g in second["AutoScalingGroups"]] == ["eks-workers-9"]
    assert second["NextToken"] is None
    bad = await error(service, "DescribeAutoScalingGroups", NextToken="not-a-token")
    assert (bad.code, bad.status) == ("InvalidNextToken", 400)
    too_many = await error(service, "DescribeAutoScalingGroups", MaxRecords=101)
    assert too_many.code == "ValidationError" and "less than or equal to 100" in too_many.message
    assert (await error(service, "DescribeAutoScalingInstances", MaxRecords=51)).code == "ValidationError"


async def test_activities_newest_first_and_filtered(service: Eks) -> None:
    out = await call(service, "DescribeScalingActivities", AutoScalingGroupName=GROUP)
    activities = out["Activities"]
    assert [a["ActivityId"] for a in activities] == [f"{GROUP}-1", f"{GROUP}-0"]
    assert activities[0]["AutoScalingGroupName"] == GROUP
    assert activities[0]["AutoScalingGroupARN"].endswith(f"autoScalingGroupName/{GROUP}")
    assert activities[0]["Description"] == "Launching a new EC2 instance: i-0b"
    every = await call(service, "DescribeScalingActivities")
    assert len(every["Activities"]) == 3
    assert (await call(service, "DescribeScalingActivities", AutoScalingGroupName="nope"))["Activities"] == []
    by_id = await call(service, "DescribeScalingActivities", ActivityIds=[f"{GROUP}-0"])
    assert [a["ActivityId"] for a in by_id["Activities"]] == [f"{GROUP}-0"]
    later = await call(service, "DescribeScalingActivities", AutoScalingGroupName=GROUP,
                       Filters=[{"Name": "StartTimeLowerBound", "Values": ["2023-11-14T22:14:00Z"]}])
    assert [a["ActivityId"] for a in later["Activities"]] == [f"{GROUP}-1"]
    failed = await call(service, "DescribeScalingActivities", AutoScalingGroupName=GROUP,
                        Filters=[{"Name": "Status", "Values": ["Failed"]}])
    assert failed["Activities"] == []
    no_group = await error(service, "DescribeScalingActivities", Filters=[{"Name": "Status", "Values": ["Failed"]}])
    assert no_group.code == "ValidationError"
    page = await call(service, "DescribeScalingActivities", MaxRecords=2)
    rest = await call(service, "DescribeScalingActivities", MaxRecords=2, NextToken=page["NextToken"])
    assert len(page["Activities"]) == 2 and len(rest["Activities"]) == 1 and rest["NextToken"] is None


async def test_describe_instances_names_their_group(service: Eks) -> None:
    out = await call(service, "DescribeAutoScalingInstances")
    assert [(i["InstanceId"], i["AutoScalingGroupName"]) for i in out["AutoScalingInstances"]] == [
        ("i-0a", GROUP), ("i-0b", GROUP), ("i-0c", "eks-workers-9")]
    one = await call(service, "DescribeAutoScalingInstances", InstanceIds=["i-0c", "i-9"])
    assert [i["InstanceId"] for i in one["AutoScalingInstances"]] == ["i-0c"]
    assert one["AutoScalingInstances"][0]["LifecycleState"] == "InService"


async def test_sizes_are_checked_as_auto_scaling_checks_them(service: Eks) -> None:
    missing = await error(service, "SetDesiredCapacity", AutoScalingGroupName="nope", DesiredCapacity=1)
    assert (missing.code, missing.message) == (
        "ValidationError", "AutoScalingGroup name not found - AutoScalingGroup: nope not found")
    above = await error(service, "SetDesiredCapacity", AutoScalingGroupName=GROUP, DesiredCapacity=4)
    assert above.message == "New SetDesiredCapacity value 4 is above max value 3 for the AutoScalingGroup."
    below = await error(service, "SetDesiredCapacity", AutoScalingGroupName=GROUP, DesiredCapacity=0)
    assert below.message == "New SetDesiredCapacity value 0 is below min value 1 for the AutoScalingGroup."
    bounds = await error(service, "UpdateAutoScalingGroup", AutoScalingGroupName=GROUP, MinSize=5)
    assert bounds.message == "Max bound, 3, must be greater than or equal to min bound, 5"
    outside = await error(service, "UpdateAutoScalingGroup", AutoScalingGroupName=GROUP, MaxSize=4,
                          DesiredCapacity=6)
    assert outside.message == "Desired capacity:6 must be between the specified min size:1 and max size:4"
    other = await error(service, "UpdateAutoScalingGroup", AutoScalingGroupName=GROUP, HealthCheckGracePeriod=60)
    assert other.code == "ValidationError" and "HealthCheckGracePeriod" in other.message
    # nothing changed, so nothing was asked of the node group
    unchanged = await call(service, "UpdateAutoScalingGroup", AutoScalingGroupName=GROUP, MinSize=1, MaxSize=3)
    assert unchanged == {}
    assert service.doc(CLUSTER)["autoScalingGroups"][GROUP]["DesiredCapacity"] == 2


# The real service, boto3 and the aws CLI, a cluster with a node group, kubectl on its nodes

ROLE = "arn:aws:iam::111122223333:role/eksClusterRole"
NODE_ROLE = "arn:aws:iam::111122223333:role/eksNodeRole"
SUBNETS = ["subnet-0a1", "subnet-0b2"]
FAST = {"Delay": 1, "MaxAttempts": 300}


def settled(asg, group: str, count: int) -> list[dict] | None:
    """The group's activities once there are `count` and all have ended."""
    activities = asg.describe_scaling_activities(AutoScalingGroupName=group)["Activities"]
    done = len(activities) == count and all(a["StatusCode"] == "Successful" for a in activities)
    return activities if done else None


def test_node_group_scaled_through_its_auto_scaling_group(eks: EksService, tmp_path) -> None:
    client, asg = eks.client(), eks.client("autoscaling")
    client.create_cluster(name="demo", roleArn=ROLE, resourcesVpcConfig={"subnetIds": SUBNETS})
    client.get_waiter("cluster_active").wait(name="demo", WaiterConfig=FAST)
    client.create_nodegroup(clusterName="demo", nodegroupName="ng-1", nodeRole=NODE_ROLE, subnets=SUBNETS,
                            instanceTypes=["m5.large"], scalingConfig={"minSize": 1, "maxSize": 2, "desiredSize": 1})
    client.get_waiter("nodegroup_active").wait(clusterName="demo", nodegroupName="ng-1", WaiterConfig=FAST)
    nodegroup = client.describe_nodegroup(clusterName="demo", nodegroupName="ng-1")["nodegroup"]
    group = nodegroup["resources"]["autoScalingGroups"][0]["name"]

    found = eks.aws_json("autoscaling", "describe-auto-scaling-groups",
                         "--filters", "Name=tag:eks:nodegroup-name,Values=ng-1",
                         "Name=tag:eks:cluster-name,Values=demo")["AutoScalingGroups"]
    assert [g["AutoScalingGroupName"] for g in found] == [group]
    assert (found[0]["MinSize"], found[0]["MaxSize"], found[0]["DesiredCapacity"]) == (1, 2, 1)
    assert [(i["InstanceType"], i["LifecycleState"]) for i in found[0]["Instances"]] == [("m5.large", "InService")]
    first = found[0]["Instances"][0]["InstanceId"]

    # scale out through Auto Scaling: the node group follows, and a second node joins
    eks.aws("autoscaling", "set-desired-capacity", "--auto-scaling-group-name", group, "--desired-capacity", "2")
    scaling = client.describe_nodegroup(clusterName="demo", nodegroupName="ng-1")["nodegroup"]["scalingConfig"]
    assert scaling == {"minSize": 1, "maxSize": 2, "desiredSize": 2}
    eventually(lambda: settled(asg, group, 2), timeout=300, interval=0.5)  # two launches
    activities = eks.aws_json("autoscaling", "describe-scaling-activities",
                              "--auto-scaling-group-name", group)["Activities"]
    instances_now = asg.describe_auto_scaling_instances()["AutoScalingInstances"]
    second = next(i["InstanceId"] for i in instances_now if i["InstanceId"] != first)
    assert [a["Description"] for a in activities] == [f"Launching a new EC2 instance: {second}",
                                                     f"Launching a new EC2 instance: {first}"]
    assert "increasing the capacity from 1 to 2" in activities[0]["Cause"]
    assert "a user request explicitly set group desired capacity changing the desired capacity from 1 to 2" \
        in activities[0]["Cause"]
    assert {i["AutoScalingGroupName"] for i in instances_now} == {group} and len(instances_now) == 2

    kubectl = Kubectl(tmp_path, eks.eks.control_plane("demo").admin)
    nodes = kubectl.json("get", "nodes", "-l", "eks.amazonaws.com/nodegroup=ng-1")["items"]
    assert len(nodes) == 2
    m5 = instances.lookup("m5.large")
    for node in nodes:
        assert node["metadata"]["labels"]["node.kubernetes.io/instance-type"] == "m5.large"
        assert node["status"]["capacity"]["pods"] == str(m5.max_pods)

    # scale in: one instance terminates and its node goes
    asg.update_auto_scaling_group(AutoScalingGroupName=group, DesiredCapacity=1)
    assert client.describe_nodegroup(clusterName="demo", nodegroupName="ng-1")["nodegroup"]["scalingConfig"][
        "desiredSize"] == 1
    newest = eventually(lambda: settled(asg, group, 3), timeout=300, interval=0.5)[0]  # and a termination
    assert newest["Description"].startswith("Terminating EC2 instance: ")
    assert "shrinking the capacity from 2 to 1" in newest["Cause"]
    eventually(lambda: len(kubectl.json("get", "nodes")["items"]) == 1, timeout=60, interval=0.5)

    # what Auto Scaling refuses, as the clients see it
    above = eks.aws("autoscaling", "set-desired-capacity", "--auto-scaling-group-name", group,
                    "--desired-capacity", "3", check=False)
    assert above.returncode != 0
    assert "(ValidationError)" in above.stderr
    assert "New SetDesiredCapacity value 3 is above max value 2 for the AutoScalingGroup." in above.stderr
    with pytest.raises(ClientError) as missing:
        asg.set_desired_capacity(AutoScalingGroupName="nope", DesiredCapacity=1)
    assert missing.value.response["Error"] == {
        "Type": "Sender", "Code": "ValidationError",
        "Message": "AutoScalingGroup name not found - AutoScalingGroup: nope not found"}

    # a new minimum above the desired capacity takes the desired capacity (and the node group) up with it
    eks.aws("autoscaling", "update-auto-scaling-group", "--auto-scaling-group-name", group, "--min-size", "2")
    assert client.describe_nodegroup(clusterName="demo", nodegroupName="ng-1")["nodegroup"]["scalingConfig"] == {
        "minSize": 2, "maxSize": 2, "desiredSize": 2}
    assert asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"][0][
        "DesiredCapacity"] == 2
