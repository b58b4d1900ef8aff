"""The cluster's public-key infrastructure: CAs, certificates and keys, as kubeadm makes them."""
