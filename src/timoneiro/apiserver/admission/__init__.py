"""Admission: the steps a write passes after authorization and before storage, one module per plugin, as
kube-apiserver's admission plugins. `chain.py` puts them in upstream's order."""
