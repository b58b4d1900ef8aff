"""What a node reports about the machine it runs on: architecture, kernel, OS image, size, identity."""

from __future__ import annotations

import functools
import os
import platform
import shutil
import uuid

# platform.machine() names -> Go's GOARCH, which node labels and nodeInfo use
_GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm",
           "armv6l": "arm", "i386": "386", "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x",
           "riscv64": "riscv64"}
_NODE_NAMESPACE = uuid.UUID("6f8d3a52-5e1b-4c1e-9a52-7c3b2f0e9d41")  # names a node's machine identity


@functools.cache
def architecture() -> str:
    machine = platform.machine().lower()
    return _GOARCH.get(machine, machine or "amd64")


@functools.cache
def kernel_version() -> str:
    return platform.release()


@functools.cache
def os_image() -> str:
    """PRETTY_NAME of /etc/os-release, as upstream reads it."""
    try:
        with open("/etc/os-release") as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                if key == "PRETTY_NAME":
                    return value.strip('"')
    except OSError:
        pass
    return platform.platform()


@functools.cache
def machine_capacity() -> dict[str, int]:
    """cpu (cores), memory and ephemeral-storage (bytes) of this machine."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = 8 * 1024**3
    try:
        disk = shutil.disk_usage("/").total
    except OSError:
        disk = 100 * 1024**3
    return {"cpu": os.cpu_count() or 1, "memory": memory, "ephemeral-storage": disk}


def machine_id(node_name: str) -> str:
    """/etc/machine-id's form (32 hex digits), stable per node name so each simulated node has its own."""
    return uuid.uuid5(_NODE_NAMESPACE, node_name).hex


def system_uuid(node_name: str) -> str:
    return str(uuid.uuid5(_NODE_NAMESPACE, "system/" + node_name))
