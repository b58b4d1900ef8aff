"""timoneiro: Kubernetes and an EKS-style managed service, in Python."""

__version__ = "0.1.0"
KUBERNETES_VERSION = "v1.32.0"
