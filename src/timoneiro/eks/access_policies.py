"""EKS's access policies: the catalogue ListAccessPolicies answers, and the Kubernetes permissions each
grants here, as the ClusterRole its associations bind (see access_bindings). EKS documents the user-facing
ones as close to Kubernetes' user-facing ClusterRoles, which every cluster has: cluster-admin, admin, edit
and view. Two whose rules EKS spells out have no upstream counterpart (AmazonEKSAdminViewPolicy: read
everything, Secrets included; AmazonEKSHybridPolicy: list nodes): the service keeps a ClusterRole of
their rules in each cluster. The rest grant the Kubernetes access of AWS services' own components (Auto
Mode, ACK, Argo CD, SageMaker HyperPod...), which EKS describes only in prose and this service does not run:
they are listed, and refused by AssociateAccessPolicy."""

from __future__ import annotations

from dataclasses import dataclass

ARN_PREFIX = "arn:aws:eks::aws:cluster-access-policy/"
OWN_ROLE_PREFIX = "eks:access-policy:"  # the ClusterRoles the service keeps for policies with no upstream role
READ = ["get", "list", "watch"]


@dataclass(frozen=True)
class AccessPolicy:
    name: str
    cluster_role: str | None = None  # what its associations bind; None: granted to AWS components only
    rules: tuple[dict, ...] = ()  # the rules of a ClusterRole of the service's own (as EKS documents them)

    @property
    def arn(self) -> str:
        return ARN_PREFIX + self.name

    def as_api(self) -> dict:
        """An AccessPolicy as ListAccessPolicies describes it."""
        return {"name": self.name, "arn": self.arn}


def _own(name: str, *rules: dict) -> AccessPolicy:
    return AccessPolicy(name, OWN_ROLE_PREFIX + name, rules)


_GRANTED = [
    AccessPolicy("AmazonEKSClusterAdminPolicy", "cluster-admin"),
    AccessPolicy("AmazonEKSAdminPolicy", "admin"),
    AccessPolicy("AmazonEKSEditPolicy", "edit"),
    AccessPolicy("AmazonEKSViewPolicy", "view"),
    _own("AmazonEKSAdminViewPolicy", {"apiGroups": ["*"], "resources": ["*"], "verbs": READ}),
    _own("AmazonEKSHybridPolicy", {"apiGroups": ["*"], "resources": ["nodes"], "verbs": ["list"]}),
]
_COMPONENTS = [
    "AIDevOpsAgentAccessPolicy", "AmazonAIOpsAssistantPolicy", "AmazonARCRegionSwitchScalingPolicy",
    "AmazonEKSACKPolicy", "AmazonEKSArgoCDClusterPolicy", "AmazonEKSArgoCDPolicy", "AmazonEKSAutoNodePolicy",
    "AmazonEKSBlockStorageClusterPolicy", "AmazonEKSBlockStoragePolicy", "AmazonEKSComputeClusterPolicy",
    "AmazonEKSComputePolicy", "AmazonEKSEventPolicy", "AmazonEKSKROPolicy", "AmazonEKSLoadBalancingClusterPolicy",
    "AmazonEKSLoadBalancingPolicy", "AmazonEKSNetworkingClusterPolicy", "AmazonEKSNetworkingPolicy",
    "AmazonEKSPodIdentityPolicy", "AmazonEKSSecretAdminPolicy", "AmazonEKSSecretReaderPolicy", "AmazonEMRJobPolicy",
    "AmazonSagemakerHyperpodClusterPolicy", "AmazonSagemakerHyperpodControllerPolicy",
    "AmazonSagemakerHyperpodSpacePolicy", "AmazonSagemakerHyperpodSpaceTemplatePolicy",
    "AmazonSagemakerHyperpodSystemNamespacePolicy", "AmazonSagemakerHyperpodUserClusterPolicy",
]
# by ARN, in the order ListAccessPolicies lists them (by name)
POLICIES: dict[str, AccessPolicy] = {
    p.arn: p for p in sorted([*_GRANTED, *map(AccessPolicy, _COMPONENTS)], key=lambda p: p.name)}
CLUSTER_ADMIN = ARN_PREFIX + "AmazonEKSClusterAdminPolicy"
