"""helm 3 against a started server: a chart installs, upgrades, rolls back and uninstalls."""

from __future__ import annotations

import subprocess
from pathlib import Path

HELM = Path(__file__).resolve().parent.parent / ".tools" / "helm"


def helm(kubectl, *args: str) -> str:
    assert HELM.exists(), "helm is missing: scripts/setup.sh installs it (scripts/install_helm.py)"
    proc = subprocess.run([str(HELM), *args], capture_output=True, text=True, env=kubectl.env, cwd=kubectl.home,
                          timeout=120)
    assert proc.returncode == 0, f"helm {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_chart_lifecycle(kubectl):
    helm(kubectl, "create", "mychart")
    out = helm(kubectl, "install", "demo", "./mychart")
    assert "STATUS: deployed" in out
    assert kubectl.json("get", "deployment", "demo-mychart")["spec"]["replicas"] == 1
    assert kubectl.json("get", "secret", "sh.helm.release.v1.demo.v1")["type"] == "helm.sh/release.v1"
    helm(kubectl, "upgrade", "demo", "./mychart", "--set", "replicaCount=3")
    assert kubectl.json("get", "deployment", "demo-mychart")["spec"]["replicas"] == 3
    helm(kubectl, "rollback", "demo", "1")
    assert kubectl.json("get", "deployment", "demo-mychart")["spec"]["replicas"] == 1
    history = helm(kubectl, "history", "demo").splitlines()
    assert [line.split("\t")[0].strip() for line in history[1:]] == ["1", "2", "3"]
    assert "Rollback to 1" in history[-1]
    assert "demo" in helm(kubectl, "list", "--short")
    assert 'release "demo" uninstalled' in helm(kubectl, "uninstall", "demo")
    left = kubectl("get", "deploy,svc,sa,secret", "-o", "name").split()
    assert "deployment.apps/demo-mychart" not in left
    assert not [n for n in left if n.startswith("secret/sh.helm.release")]
