"""Pod volumes as upstream's kubelet sets them up: one module per volume plugin (emptyDir, hostPath,
configMap, secret, downwardAPI, projected with service-account tokens, persistentVolumeClaim bound to a
hostPath or local PV), each making a directory under the pod's (PODS_DIR/UID/volumes/PLUGIN/NAME) that its
containers bind-mount; the manager mounts a pod's volumes before its sandbox runs, rewrites those that
come from the API at each resync, and removes everything when the pod goes."""
