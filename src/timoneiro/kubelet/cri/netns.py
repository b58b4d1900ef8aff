"""Connecting to a port inside a pod's network namespace, for port-forwarding as containerd does it: the
socket is made by a thread of its own that enters the namespace and leaves it again (setns changes only
the calling thread), so the rest of the process stays in the host's namespace.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import socket
import threading

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def _connect_inside(netns: str, port: int, timeout: float) -> socket.socket:
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(netns, os.O_RDONLY)
    try:
        _setns(target)
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=timeout)
        finally:
            _setns(own)  # if this failed, the thread ends anyway: nothing else runs in it
    finally:
        os.close(own)
        os.close(target)


async def connect(netns: str, port: int, timeout: float = 10.0) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A stream to localhost:port in the network namespace at netns (e.g. /proc/PID/ns/net)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[socket.socket] = loop.create_future()

    def run() -> None:
        try:
            sock = _connect_inside(netns, port, timeout)
        except BaseException as e:  # handed to the awaiting coroutine
            loop.call_soon_threadsafe(_settle, done, None, e)
        else:
            loop.call_soon_threadsafe(_settle, done, sock, None)

    threading.Thread(target=run, name=f"connect {netns}:{port}", daemon=True).start()
    sock = await done
    sock.settimeout(None)
    return await asyncio.open_connection(sock=sock)


def _settle(future: asyncio.Future, sock: socket.socket | None, error: BaseException | None) -> None:
    if future.cancelled():
        if sock is not None:
            sock.close()
    elif error is not None:
        future.set_exception(error)
    else:
        future.set_result(sock)
