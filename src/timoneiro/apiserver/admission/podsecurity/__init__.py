"""Pod Security Admission, built into kube-apiserver since 1.25: `levels` (labels, levels, versions),
`baseline` and `restricted` (the checks), `registry` (which checks a level runs at a version),
`messages` (how violations are worded), `admission` (the plugin)."""

from timoneiro.apiserver.admission.podsecurity.admission import PodSecurity

__all__ = ["PodSecurity"]
