"""The Kubernetes objects each add-on is, as EKS installs them in kube-system: CoreDNS (a Deployment of two
replicas behind the kube-dns Service at the tenth address of the service range), kube-proxy and the VPC CNI
(aws-node) as DaemonSets on every node, the Pod Identity agent likewise; with their service accounts, RBAC,
ConfigMaps and (the CNI) the ENIConfig resource. An add-on's configurationValues (see addon_config) change
them as EKS's schemas say. Also what CreateCluster installs before anyone asks: the self-managed add-ons."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import yaml

from timoneiro.client import Client
from timoneiro.eks.addon_apply import apply
from timoneiro.eks.addon_catalogue import ADDONS, NAMESPACE, SELF_MANAGED, Version, image

if TYPE_CHECKING:
    from timoneiro.eks.service import Eks

COMPONENT = "eks.amazonaws.com/component"
ROLE_ARN = "eks.amazonaws.com/role-arn"  # IRSA: the role the service account's pods assume
_LINUX_NODES = [{"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
                {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]}]
_EC2_NODES = [*_LINUX_NODES, {"key": "eks.amazonaws.com/compute-type", "operator": "NotIn",
                              "values": ["fargate", "hybrid", "auto"]}]
_ANY_TAINT = [{"operator": "Exists"}]


@dataclass(frozen=True)
class Install:
    """One add-on as it is to be in one cluster."""

    addon: str
    version: Version
    cluster: str
    region: str
    endpoint: str  # the cluster's API server, for kube-proxy, which runs on the host network
    service_cidr: str
    config: Mapping = field(default_factory=dict)  # parsed configurationValues
    role_arn: str | None = None  # serviceAccountRoleArn
    managed: bool = True  # an EKS add-on, not one of the self-managed ones a new cluster gets

    def image(self, repository: str, tag: str | None = None) -> str:
        return image(self.region, repository, tag or self.version.name)


@dataclass(frozen=True)
class Workload:
    """What an add-on's health is read from."""

    kind: str  # Deployment or DaemonSet
    name: str


WORKLOADS = {"coredns": Workload("Deployment", "coredns"), "kube-proxy": Workload("DaemonSet", "kube-proxy"),
             "vpc-cni": Workload("DaemonSet", "aws-node"),
             "eks-pod-identity-agent": Workload("DaemonSet", "eks-pod-identity-agent")}


def dns_ip(service_cidr: str) -> str:
    """The cluster DNS address, kube-dns's: the tenth address of the service range (EKS's 10.100.0.10)."""
    return str(ipaddress.ip_network(service_cidr)[10])


def objects(install: Install) -> list[dict]:
    """Every object of the add-on, as server-side apply is to make it."""
    return _BUILDERS[install.addon](install)


def install_for(eks: Eks, cluster: str, addon: str, version: Version, config: Mapping | None = None,
                role_arn: str | None = None, managed: bool = True) -> Install:
    """The Install of an add-on in one of the service's clusters."""
    record = eks.doc(cluster)["cluster"]
    return Install(addon, version, cluster, eks.region, eks.control_plane(cluster).url,
                   record["kubernetesNetworkConfig"]["serviceIpv4Cidr"], config or {}, role_arn, managed)


async def bootstrap_self_managed(eks: Eks, cluster: str) -> None:
    """What CreateCluster does unless bootstrapSelfManagedAddons is false: CoreDNS, kube-proxy and the VPC
    CNI at the cluster version's default versions, as self-managed add-ons (objects in the cluster that
    ListAddons does not show, until a CreateAddon takes them over)."""
    kubernetes = eks.doc(cluster)["cluster"]["version"]
    installs = [install_for(eks, cluster, name, ADDONS[name].default(kubernetes), managed=False)
                for name in SELF_MANAGED]
    async with Client(eks.control_plane(cluster).admin) as client:
        await apply(client, [obj for i in installs for obj in objects(i)], "OVERWRITE")


# building blocks


def _meta(name: str, labels: Mapping[str, str], namespaced: bool = True, **extra: object) -> dict:
    meta = {"name": name, "labels": dict(labels), **extra}
    if namespaced:
        meta["namespace"] = NAMESPACE
    return meta


def _service_account(name: str, labels: Mapping[str, str], role_arn: str | None) -> dict:
    extra = {"annotations": {ROLE_ARN: role_arn}} if role_arn else {}
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name, labels, **extra)}


def _cluster_rbac(role: str, binding: str, account: str, labels: Mapping[str, str],
                  rules: list[dict] | None) -> list[dict]:
    """A ClusterRole (unless `rules` is None: one of Kubernetes' own), bound to kube-system/account."""
    group = "rbac.authorization.k8s.io"
    made = [] if rules is None else [{"apiVersion": f"{group}/v1", "kind": "ClusterRole",
                                      "metadata": _meta(role, labels, namespaced=False), "rules": rules}]
    return made + [{
        "apiVersion": f"{group}/v1", "kind": "ClusterRoleBinding", "metadata": _meta(binding, labels, False),
        "roleRef": {"apiGroup": group, "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}]}]


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def _node_affinity(terms: list[dict]) -> dict:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": terms}]}}}


def _daemonset(name: str, labels: Mapping[str, str], selector: Mapping[str, str], pod_spec: dict,
               annotations: Mapping[str, str] | None = None) -> dict:
    """A node agent as EKS runs them: every EC2 node, any taint tolerated, node-critical, 10% at a time."""
    template_meta = {"labels": dict(selector), **({"annotations": dict(annotations)} if annotations else {})}
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": _meta(name, labels), "spec": {
        "selector": {"matchLabels": dict(selector)},
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}},
        "template": {"metadata": template_meta, "spec": {
            "priorityClassName": "system-node-critical", "hostNetwork": True, "tolerations": _ANY_TAINT,
            "affinity": _node_affinity(_EC2_NODES), **pod_spec}}}}


def _host_path(name: str, path: str, kind: str | None = None) -> dict:
    return {"name": name, "hostPath": {"path": path, **({"type": kind} if kind else {})}}


def _env(values: Mapping[str, str]) -> list[dict]:
    return [{"name": k, "value": v} for k, v in values.items()]


def _field_env(name: str, path: str) -> dict:
    return {"name": name, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}}


# CoreDNS

COREFILE = """.:53 {
    errors
    health {
        lameduck 5s
      }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
      pods insecure
      fallthrough in-addr.arpa ip6.arpa
    }
    prometheus :9153
    forward . /etc/resolv.conf
    cache 30
    loop
    reload
    loadbalance
}
"""


def _coredns(install: Install) -> list[dict]:
    config = install.config
    labels = {"k8s-app": "kube-dns", COMPONENT: "coredns"}
    dns_labels = {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true",
                  "kubernetes.io/name": "CoreDNS", COMPONENT: "kube-dns"}
    rbac_labels = {"kubernetes.io/bootstrapping": "rbac-defaults", COMPONENT: "coredns"}
    anti_affinity = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
        "weight": 100, "podAffinityTerm": {
            "labelSelector": {"matchExpressions": [
                {"key": "k8s-app", "operator": "In", "values": ["kube-dns"]}]},
            "topologyKey": "kubernetes.io/hostname"}}]}}
    container = {
        "name": "coredns", "image": install.image("eks/coredns"), "imagePullPolicy": "IfNotPresent",
        "args": ["-conf", "/etc/coredns/Corefile"],
        "resources": config.get("resources") or {"limits": {"memory": "170Mi"},
                                                 "requests": {"cpu": "100m", "memory": "70Mi"}},
        "volumeMounts": [{"name": "config-volume", "mountPath": "/etc/coredns", "readOnly": True}],
        "ports": [{"containerPort": 53, "name": "dns", "protocol": "UDP"},
                  {"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"},
                  {"containerPort": 9153, "name": "metrics", "protocol": "TCP"}],
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}},
        "livenessProbe": {"httpGet": {"path": "/health", "port": 8080, "scheme": "HTTP"},
                          "initialDelaySeconds": 60, "timeoutSeconds": 5, "successThreshold": 1,
                          "failureThreshold": 5},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181, "scheme": "HTTP"}}}
    pod_spec = {
        "serviceAccountName": "coredns", "priorityClassName": "system-cluster-critical",
        "dnsPolicy": "Default",
        "affinity": config.get("affinity") or {**_node_affinity(_LINUX_NODES), **anti_affinity},
        "tolerations": config.get("tolerations") or [
            {"key": "CriticalAddonsOnly", "operator": "Exists"},
            {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
        "containers": [container],
        "volumes": [{"name": "config-volume", "configMap": {
            "name": "coredns", "items": [{"key": "Corefile", "path": "Corefile"}]}}]}
    if config.get("nodeSelector"):
        pod_spec["nodeSelector"] = config["nodeSelector"]
    template_meta = {"labels": {**config.get("podLabels", {}), **labels}, "annotations": {
        "eks.amazonaws.com/compute-type": "ec2", **config.get("podAnnotations", {})}}
    budget = config.get("podDisruptionBudget") or {}
    made = [
        _service_account("coredns", labels, install.role_arn),
        *_cluster_rbac("system:coredns", "system:coredns", "coredns", rbac_labels, [
            _rule([""], ["endpoints", "services", "pods", "namespaces"], ["list", "watch"]),
            _rule(["discovery.k8s.io"], ["endpointslices"], ["list", "watch"])]),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("coredns", labels),
         "data": {"Corefile": config.get("corefile") or COREFILE}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": _meta("coredns", {**labels, "kubernetes.io/name": "CoreDNS"}), "spec": {
             "replicas": config.get("replicaCount", 2),
             "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
             "selector": {"matchLabels": labels},
             "template": {"metadata": template_meta, "spec": pod_spec}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": _meta("kube-dns", dns_labels, annotations={
            "prometheus.io/port": "9153", "prometheus.io/scrape": "true"}), "spec": {
            "selector": {"k8s-app": "kube-dns"}, "clusterIP": dns_ip(install.service_cidr),
            "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                      {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                      {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}]}}]
    if install.managed and budget.get("enabled", True):  # the add-on's own: the self-managed CoreDNS has none
        limit = ({"minAvailable": budget["minAvailable"]} if "minAvailable" in budget else
                 {"maxUnavailable": budget.get("maxUnavailable", 1)})
        spec = {**limit, "selector": {"matchLabels": labels}}
        made.append({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                     "metadata": _meta("coredns", labels), "spec": spec})
    return made


# kube-proxy


def _kube_proxy(install: Install) -> list[dict]:
    config = install.config
    # the self-managed kube-proxy runs EKS Distro's minimal image: v1.32.0-minimal-eksbuild.2
    tag = install.version.name if install.managed else install.version.name.replace("-eks", "-minimal-eks")
    labels = {"k8s-app": "kube-proxy", COMPONENT: "kube-proxy"}
    kubeconfig = {
        "kind": "Config", "apiVersion": "v1", "current-context": "default",
        "clusters": [{"name": "default", "cluster": {
            "certificate-authority": "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
            "server": install.endpoint}}],
        "contexts": [{"name": "default", "context": {"cluster": "default", "namespace": "default",
                                                     "user": "default"}}],
        "users": [{"name": "default", "user": {
            "tokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token"}}]}
    proxy_config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
        "bindAddress": "0.0.0.0", "clusterCIDR": "", "configSyncPeriod": "15m0s", "enableProfiling": False,
        "clientConnection": {"acceptContentTypes": "", "burst": 10, "qps": 5,
                             "contentType": "application/vnd.kubernetes.protobuf",
                             "kubeconfig": "/var/lib/kube-proxy/kubeconfig"},
        "conntrack": {"maxPerCore": 32768, "min": 131072, "tcpCloseWaitTimeout": "1h0m0s",
                      "tcpEstablishedTimeout": "24h0m0s"},
        "healthzBindAddress": "0.0.0.0:10256", "hostnameOverride": "",
        "iptables": {"masqueradeAll": False, "masqueradeBit": 14, "minSyncPeriod": "0s", "syncPeriod": "30s"},
        "ipvs": {"excludeCIDRs": None, "minSyncPeriod": "0s", "syncPeriod": "30s",
                 "scheduler": (config.get("ipvs") or {}).get("scheduler", "")},
        "metricsBindAddress": "0.0.0.0:10249", "mode": config.get("mode", "iptables"),
        "nodePortAddresses": None, "oomScoreAdj": -998, "portRange": ""}
    container = {
        "name": "kube-proxy", "image": install.image("eks/kube-proxy", tag),
        "command": ["kube-proxy", "--v=2", "--config=/var/lib/kube-proxy-config/config",
                    "--hostname-override=$(NODE_NAME)"],
        "env": [_field_env("NODE_NAME", "spec.nodeName")],
        "resources": config.get("resources") or {"requests": {"cpu": "100m"}},
        "securityContext": {"privileged": True},
        "volumeMounts": [{"name": "varlog", "mountPath": "/var/log"},
                         {"name": "xtables-lock", "mountPath": "/run/xtables.lock"},
                         {"name": "lib-modules", "mountPath": "/lib/modules", "readOnly": True},
                         {"name": "kubeconfig", "mountPath": "/var/lib/kube-proxy/"},
                         {"name": "config", "mountPath": "/var/lib/kube-proxy-config/"}]}
    pod_spec = {
        "serviceAccountName": "kube-proxy", "containers": [container],
        "volumes": [_host_path("varlog", "/var/log"),
                    _host_path("xtables-lock", "/run/xtables.lock", "FileOrCreate"),
                    _host_path("lib-modules", "/lib/modules"),
                    {"name": "kubeconfig", "configMap": {"name": "kube-proxy"}},
                    {"name": "config", "configMap": {"name": "kube-proxy-config"}}]}
    return [
        _service_account("kube-proxy", labels, install.role_arn),
        *_cluster_rbac("system:node-proxier", "eks:kube-proxy", "kube-proxy", labels, None),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("kube-proxy", labels),
         "data": {"kubeconfig": yaml.safe_dump(kubeconfig, sort_keys=False)}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("kube-proxy-config", labels),
         "data": {"config": yaml.safe_dump(proxy_config, sort_keys=False)}},
        _daemonset("kube-proxy", labels, {"k8s-app": "kube-proxy"}, pod_spec, config.get("podAnnotations"))]


# the VPC CNI: aws-node

_CNI_DEFAULTS = {
    "ADDITIONAL_ENI_TAGS": "{}", "AWS_VPC_CNI_NODE_PORT_SUPPORT": "true", "AWS_VPC_ENI_MTU": "9001",
    "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "false", "AWS_VPC_K8S_CNI_EXTERNALSNAT": "false",
    "AWS_VPC_K8S_CNI_LOGLEVEL": "DEBUG", "AWS_VPC_K8S_CNI_LOG_FILE": "/host/var/log/aws-routed-eni/ipamd.log",
    "AWS_VPC_K8S_CNI_RANDOMIZESNAT": "prng", "AWS_VPC_K8S_CNI_VETHPREFIX": "eni",
    "AWS_VPC_K8S_PLUGIN_LOG_FILE": "/var/log/aws-routed-eni/plugin.log",
    "AWS_VPC_K8S_PLUGIN_LOG_LEVEL": "DEBUG", "DISABLE_INTROSPECTION": "false", "DISABLE_METRICS": "false",
    "DISABLE_NETWORK_RESOURCE_PROVISIONING": "false", "ENABLE_IPv4": "true", "ENABLE_IPv6": "false",
    "ENABLE_POD_ENI": "false", "ENABLE_PREFIX_DELEGATION": "false",
    "NETWORK_POLICY_ENFORCING_MODE": "standard", "VPC_CNI_VERSION": "", "WARM_ENI_TARGET": "1",
    "WARM_PREFIX_TARGET": "1"}


def _vpc_cni(install: Install) -> list[dict]:
    config = install.config
    release = install.version.name.partition("-")[0]
    labels = {"app.kubernetes.io/name": "aws-node", "app.kubernetes.io/instance": "aws-vpc-cni",
              "k8s-app": "aws-node", "app.kubernetes.io/version": release}
    policy = config.get("enableNetworkPolicy", "false")
    env = {**_CNI_DEFAULTS, "VPC_CNI_VERSION": release, **config.get("env", {})}
    init_env = {"DISABLE_TCP_EARLY_DEMUX": "false", "ENABLE_IPv6": "false",
                **(config.get("init") or {}).get("env", {})}
    cni = {"name": "aws-node", "image": install.image("amazon-k8s-cni"),
           "ports": [{"containerPort": 61678, "name": "metrics"}],
           "livenessProbe": {"exec": {"command": ["/app/grpc-health-probe", "-addr=:50051",
                                                  "-connect-timeout=5s", "-rpc-timeout=5s"]},
                             "initialDelaySeconds": 60, "timeoutSeconds": 10},
           "readinessProbe": {"exec": {"command": ["/app/grpc-health-probe", "-addr=:50051",
                                                   "-connect-timeout=5s", "-rpc-timeout=5s"]},
                              "initialDelaySeconds": 1, "timeoutSeconds": 10},
           "env": [*_env(env), _field_env("MY_NODE_NAME", "spec.nodeName"),
                   _field_env("MY_POD_NAME", "metadata.name")],
           "resources": config.get("resources") or {"requests": {"cpu": "25m"}},
           "securityContext": {"capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}},
           "volumeMounts": [{"mountPath": "/host/opt/cni/bin", "name": "cni-bin-dir"},
                            {"mountPath": "/host/etc/cni/net.d", "name": "cni-net-dir"},
                            {"mountPath": "/host/var/log/aws-routed-eni", "name": "log-dir"},
                            {"mountPath": "/var/run/aws-node", "name": "run-dir"},
                            {"mountPath": "/run/xtables.lock", "name": "xtables-lock"}]}
    agent = {"name": "aws-eks-nodeagent", "image": install.image("amazon/aws-network-policy-agent",
                                                                 install.version.agent),
             "args": ["--enable-ipv6=false", f"--enable-network-policy={policy}",
                      "--enable-cloudwatch-logs=false", "--enable-policy-event-logs=false",
                      "--log-file=/var/log/aws-routed-eni/network-policy-agent.log",
                      "--metrics-bind-addr=:8162", "--health-probe-bind-addr=:8163",
                      "--conntrack-cache-cleanup-period=300"],
             "resources": {"requests": {"cpu": "25m"}},
             "securityContext": {"privileged": True, "capabilities": {"add": ["NET_ADMIN"]}},
             "volumeMounts": [{"mountPath": "/host/opt/cni/bin", "name": "cni-bin-dir"},
                              {"mountPath": "/sys/fs/bpf", "name": "bpf-pin-path"},
                              {"mountPath": "/var/log/aws-routed-eni", "name": "log-dir"},
                              {"mountPath": "/var/run/aws-node", "name": "run-dir"}]}
    pod_spec = {
        "serviceAccountName": "aws-node", "terminationGracePeriodSeconds": 10,
        "tolerations": config.get("tolerations") or _ANY_TAINT,
        "initContainers": [{"name": "aws-vpc-cni-init", "image": install.image("amazon-k8s-cni-init"),
                            "env": _env(init_env), "resources": {"requests": {"cpu": "25m"}},
                            "securityContext": {"privileged": True},
                            "volumeMounts": [{"mountPath": "/host/opt/cni/bin", "name": "cni-bin-dir"}]}],
        "containers": [cni, agent],
        "volumes": [_host_path("bpf-pin-path", "/sys/fs/bpf"), _host_path("cni-bin-dir", "/opt/cni/bin"),
                    _host_path("cni-net-dir", "/etc/cni/net.d"),
                    _host_path("log-dir", "/var/log/aws-routed-eni", "DirectoryOrCreate"),
                    _host_path("run-dir", "/var/run/aws-node", "DirectoryOrCreate"),
                    _host_path("xtables-lock", "/run/xtables.lock", "FileOrCreate")]}
    read = ["get", "list", "watch"]
    return [
        {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
         "metadata": _meta("eniconfigs.crd.k8s.amazonaws.com", labels, namespaced=False), "spec": {
             "group": "crd.k8s.amazonaws.com", "scope": "Cluster",
             "names": {"plural": "eniconfigs", "singular": "eniconfig", "kind": "ENIConfig"},
             "versions": [{"name": "v1alpha1", "served": True, "storage": True, "schema": {
                 "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}},
        _service_account("aws-node", labels, install.role_arn),
        *_cluster_rbac("aws-node", "aws-node", "aws-node", labels, [
            _rule(["crd.k8s.amazonaws.com"], ["eniconfigs"], read),
            _rule(["apiextensions.k8s.io"], ["customresourcedefinitions"], ["list", "watch"]),
            _rule([""], ["namespaces", "pods", "nodes"], read),
            _rule(["", "events.k8s.io"], ["events"], ["create", "patch", "list"]),
            _rule(["networking.k8s.aws"], ["policyendpoints"], read),
            _rule(["networking.k8s.aws"], ["policyendpoints/status"], ["get"]),
            _rule(["vpcresources.k8s.aws"], ["cninodes"], [*read, "patch"])]),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("amazon-vpc-cni", labels), "data": {
            "enable-network-policy-controller": policy, "enable-windows-ipam": "false",
            "enable-windows-prefix-delegation": "false", "minimum-ip-target": "3", "warm-ip-target": "1",
            "warm-prefix-target": "0", "branch-eni-cooldown": "60"}},
        _daemonset("aws-node", labels, {"k8s-app": "aws-node"}, pod_spec)]


# the Pod Identity agent


def _pod_identity_agent(install: Install) -> list[dict]:
    config = install.config
    labels = {"app.kubernetes.io/name": "eks-pod-identity-agent",
              "app.kubernetes.io/instance": "eks-pod-identity-agent"}
    agent_image = install.image("eks/eks-pod-identity-agent", install.version.agent)
    extra_args = [arg for pair in ((config.get("agent") or {}).get("additionalArgs") or {}).items()
                  for arg in pair]
    probe = {"host": "localhost", "port": "probes-port", "scheme": "HTTP"}
    pod_spec = {
        "terminationGracePeriodSeconds": 30, "tolerations": config.get("tolerations") or _ANY_TAINT,
        "initContainers": [{"name": "eks-pod-identity-agent-init", "image": agent_image,
                            "imagePullPolicy": "Always", "securityContext": {"privileged": True},
                            "command": ["/go-runner", "/eks-pod-identity-agent", "initialize"]}],
        "containers": [{
            "name": "eks-pod-identity-agent", "image": agent_image, "imagePullPolicy": "Always",
            "command": ["/go-runner", "/eks-pod-identity-agent", "server"],
            "args": ["--port", "80", "--cluster-name", install.cluster, "--probe-port", "2703", *extra_args],
            "env": [{"name": "AWS_REGION", "value": install.region}],
            "ports": [{"containerPort": 80, "protocol": "TCP", "name": "proxy"},
                      {"containerPort": 2703, "protocol": "TCP", "name": "probes-port"}],
            "securityContext": {"capabilities": {"add": ["CAP_NET_BIND_SERVICE"]}},
            "resources": config.get("resources") or {},
            "livenessProbe": {"httpGet": {**probe, "path": "/healthz"}, "failureThreshold": 3,
                              "initialDelaySeconds": 30, "timeoutSeconds": 10},
            "readinessProbe": {"httpGet": {**probe, "path": "/readyz"}, "failureThreshold": 30,
                               "timeoutSeconds": 10}}]}
    return [_daemonset("eks-pod-identity-agent", labels, labels, pod_spec)]


_BUILDERS: dict[str, Callable[[Install], list[dict]]] = {
    "coredns": _coredns, "kube-proxy": _kube_proxy, "vpc-cni": _vpc_cni,
    "eks-pod-identity-agent": _pod_identity_agent}
