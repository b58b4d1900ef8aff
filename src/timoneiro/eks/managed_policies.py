"""The AWS managed policies the service knows, by ARN (arn:aws:iam::aws:policy/NAME): those EKS's guides
attach to users, cluster roles and node roles. Their documents are written here and hold the actions that
matter to this service (EKS, Auto Scaling, IAM, STS) and a few of the others the real ones grant, not the
whole of AWS's lists."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

PREFIX = "arn:aws:iam::aws:policy/"
CREATED = 1423248000.0  # 2015-02-06, when AWS's first managed policies appeared


@dataclass(frozen=True)
class ManagedPolicy:
    name: str
    description: str
    statements: tuple[dict, ...]

    @property
    def arn(self) -> str:
        return PREFIX + self.name

    @property
    def policy_id(self) -> str:
        """ANPA and 17 characters, the same for the policy in every service (AWS's are fixed too)."""
        digest = base64.b32encode(hashlib.sha256(self.name.encode()).digest()).decode()
        return "ANPA" + digest[:17]

    @property
    def public(self) -> dict:
        """The Policy shape's members (AttachmentCount aside, which depends on the account)."""
        return {"PolicyName": self.name, "PolicyId": self.policy_id, "Arn": self.arn, "Path": "/",
                "DefaultVersionId": "v1", "IsAttachable": True, "Description": self.description,
                "CreateDate": CREATED, "UpdateDate": CREATED}

    @property
    def document(self) -> str:
        return json.dumps({"Version": "2012-10-17", "Statement": list(self.statements)}, indent=4)


def _allow(*actions: str, resource: str = "*") -> dict:
    return {"Effect": "Allow", "Action": list(actions) if len(actions) > 1 else actions[0], "Resource": resource}


_POLICIES = [
    ManagedPolicy("AdministratorAccess", "Provides full access to AWS services and resources.",
                  (_allow("*"),)),
    ManagedPolicy("PowerUserAccess", "Provides full access to AWS services and resources, but does not allow "
                  "management of Users and groups.",
                  ({"Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*"], "Resource": "*"},
                   _allow("iam:CreateServiceLinkedRole", "iam:DeleteServiceLinkedRole", "iam:ListRoles",
                          "organizations:DescribeOrganization", "account:ListRegions", "account:GetAccountInformation"))),
    ManagedPolicy("ReadOnlyAccess", "Provides read-only access to AWS services and resources.",
                  (_allow("eks:Describe*", "eks:List*", "autoscaling:Describe*", "ec2:Describe*", "ecr:Describe*",
                          "ecr:List*", "iam:Get*", "iam:List*", "iam:Generate*", "sts:GetCallerIdentity"),)),
    ManagedPolicy("IAMFullAccess", "Provides full access to IAM via the AWS Management Console.",
                  (_allow("iam:*", "organizations:DescribeAccount", "organizations:DescribeOrganization",
                          "organizations:ListRoots"),)),
    ManagedPolicy("IAMReadOnlyAccess", "Provides read only access to IAM via the AWS Management Console.",
                  (_allow("iam:GenerateCredentialReport", "iam:GenerateServiceLastAccessedDetails", "iam:Get*",
                          "iam:List*", "iam:SimulateCustomPolicy", "iam:SimulatePrincipalPolicy"),)),
    ManagedPolicy("AmazonEKSClusterPolicy", "This policy provides Kubernetes the permissions it requires to "
                  "manage resources on your behalf.",
                  (_allow("autoscaling:DescribeAutoScalingGroups", "autoscaling:UpdateAutoScalingGroup",
                          "ec2:AttachVolume", "ec2:AuthorizeSecurityGroupIngress", "ec2:CreateRoute",
                          "ec2:CreateSecurityGroup", "ec2:CreateTags", "ec2:CreateVolume", "ec2:DeleteRoute",
                          "ec2:DeleteSecurityGroup", "ec2:DeleteVolume", "ec2:DescribeInstances",
                          "ec2:DescribeRouteTables", "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets",
                          "ec2:DescribeVolumes", "ec2:DescribeVpcs", "ec2:DetachVolume", "ec2:ModifyInstanceAttribute",
                          "ec2:ModifyVolume", "elasticloadbalancing:*", "kms:DescribeKey"),
                   _allow("iam:CreateServiceLinkedRole"))),
    ManagedPolicy("AmazonEKSServicePolicy", "This policy allows Amazon Elastic Container Service for Kubernetes "
                  "to create and manage the necessary resources to operate EKS Clusters.",
                  (_allow("ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission",
                          "ec2:DeleteNetworkInterface", "ec2:DescribeInstances", "ec2:DescribeNetworkInterfaces",
                          "ec2:DetachNetworkInterface", "ec2:ModifyNetworkInterfaceAttribute",
                          "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs",
                          "ec2:CreateTags", "route53:AssociateVPCWithHostedZone", "logs:CreateLogGroup",
                          "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"),
                   _allow("iam:CreateServiceLinkedRole"))),
    ManagedPolicy("AmazonEKSWorkerNodePolicy", "This policy allows Amazon EKS worker nodes to connect to Amazon "
                  "EKS Clusters.",
                  (_allow("ec2:DescribeInstances", "ec2:DescribeInstanceTypes", "ec2:DescribeRouteTables",
                          "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVolumes",
                          "ec2:DescribeVolumesModifications", "ec2:DescribeVpcs", "eks:DescribeCluster",
                          "eks-auth:AssumeRoleForPodIdentity"),)),
    ManagedPolicy("AmazonEKS_CNI_Policy", "This policy provides the Amazon VPC CNI Plugin (amazon-vpc-cni-k8s) "
                  "the permissions it requires to modify the IP address configuration on your EKS worker nodes.",
                  (_allow("ec2:AssignPrivateIpAddresses", "ec2:AttachNetworkInterface",
                          "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:DescribeInstances",
                          "ec2:DescribeTags", "ec2:DescribeNetworkInterfaces", "ec2:DescribeInstanceTypes",
                          "ec2:DescribeSubnets", "ec2:DetachNetworkInterface", "ec2:ModifyNetworkInterfaceAttribute",
                          "ec2:UnassignPrivateIpAddresses"),
                   _allow("ec2:CreateTags", resource="arn:aws:ec2:*:*:network-interface/*"))),
    ManagedPolicy("AmazonEC2ContainerRegistryReadOnly", "Provides read-only access to Amazon EC2 Container "
                  "Registry repositories.",
                  (_allow("ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability",
                          "ecr:GetDownloadUrlForLayer", "ecr:GetRepositoryPolicy", "ecr:DescribeRepositories",
                          "ecr:ListImages", "ecr:DescribeImages", "ecr:BatchGetImage", "ecr:GetLifecyclePolicy",
                          "ecr:GetLifecyclePolicyPreview", "ecr:ListTagsForResource",
                          "ecr:DescribeImageScanFindings"),)),
    ManagedPolicy("AmazonEKSVPCResourceController", "Policy used by VPC Resource Controller to manage ENI and "
                  "IPs for worker nodes.",
                  (_allow("ec2:CreateNetworkInterfacePermission", "ec2:CreateNetworkInterface",
                          "ec2:DetachNetworkInterface", "ec2:ModifyNetworkInterfaceAttribute",
                          "ec2:DeleteNetworkInterface", "ec2:AttachNetworkInterface",
                          "ec2:UnassignPrivateIpAddresses", "ec2:AssignPrivateIpAddresses"),)),
]
POLICIES: dict[str, ManagedPolicy] = {policy.arn: policy for policy in _POLICIES}
ADMINISTRATOR_ACCESS = PREFIX + "AdministratorAccess"
