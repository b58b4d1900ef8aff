"""What probes and lifecycle hooks do from the node: an HTTP GET or a TCP connection to the pod, answered
as upstream's prober reports them (success, and the output or error text its Unhealthy events and hook
messages show, in Go's wording: `dial tcp 10.244.1.5:8080: connect: connection refused`,
`HTTP probe failed with statuscode: 404`)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os

import httpx

from timoneiro.kubelet.containers import container_spec

PROBE_USER_AGENT = "kube-probe/1.32"


class HandlerError(Exception):
    """A handler's port or host could not be worked out."""


def resolve_port(port: int | str | None, pod: dict, container: str) -> int:
    """A probe's or hook's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for declared in (container_spec(pod, container) or {}).get("ports") or ():
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise HandlerError(f"couldn't find port: {port} in {container}")


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _go_os_error(e: BaseException) -> str | None:
    """An OSError in the exception's chain as Go's syscall errors print it (lower case)."""
    seen = e
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno:
            text = os.strerror(seen.errno)
            return "i/o timeout" if seen.errno == errno.ETIMEDOUT else text[:1].lower() + text[1:]
        seen = seen.__cause__ or seen.__context__
    return None


async def tcp_connect(host: str, port: int, timeout: float) -> tuple[bool, str]:
    """Whether a TCP connection opens within timeout; else Go's dial error."""
    address = _netloc(host, port)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except TimeoutError:
        return False, f"dial tcp {address}: i/o timeout"
    except OSError as e:
        return False, f"dial tcp {address}: connect: {_go_os_error(e) or e}"
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True, ""


async def http_get(action: dict, host: str, port: int, timeout: float, *, probe: bool = True) -> tuple[bool, str]:
    """An httpGet action. A probe succeeds on a status from 200 to 399 and fails on others, as upstream's
    prober counts it; a hook (probe=False) fails only if no response comes. Certificates are not checked."""
    scheme = (action.get("scheme") or "HTTP").lower()
    path = action.get("path") or "/"
    if not path.startswith("/"):
        path = "/" + path
    url = f"{scheme}://{_netloc(host, port)}{path}"
    headers = {"User-Agent": PROBE_USER_AGENT, "Accept": "*/*"}
    headers.update({h["name"]: h.get("value", "") for h in action.get("httpHeaders") or () if h.get("name")})
    async with httpx.AsyncClient(verify=False, timeout=timeout, follow_redirects=True, trust_env=False) as client:
        try:
            response = await client.get(url, headers=headers)
        except httpx.TimeoutException:
            return False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
        except httpx.HTTPError as e:
            reason = _go_os_error(e)
            detail = f"dial tcp {_netloc(host, port)}: connect: {reason}" if reason else str(e)
            return False, f'Get "{url}": {detail}'
    if probe and not 200 <= response.status_code < 400:
        return False, f"HTTP probe failed with statuscode: {response.status_code}"
    return True, ""
