"""What controller tests share: a server with controllers tuned to act fast, a plain JSON client for
setting the scene, and waiting for a controller."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from timoneiro.apiserver.server import ServerThread
from timoneiro.client import ClientConfig

T = TypeVar("T")


def http_client(config: ClientConfig, timeout: float | None = 30) -> httpx.Client:
    """An httpx client with the server, CA and credentials of `config`."""
    headers = {"Authorization": f"Bearer {config.token}"} if config.token else {}
    return httpx.Client(base_url=config.server, verify=config.ssl_context() or True, headers=headers,
                        timeout=timeout)


def async_http_client(config: ClientConfig, timeout: float | None = 30) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {config.token}"} if config.token else {}
    return httpx.AsyncClient(base_url=config.server, verify=config.ssl_context() or True, headers=headers,
                             timeout=timeout)


def eventually(check: Callable[[], T], timeout: float = 10.0, interval: float = 0.05) -> T:
    """check() once it is truthy without raising AssertionError; the last failure after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
            failure: AssertionError = AssertionError(f"still {result!r} after {timeout}s")
        except AssertionError as e:
            failure = e
        if time.monotonic() > deadline:
            raise failure
        time.sleep(interval)



def assert_rolled_out_unavailable(d: dict) -> None:
    """That Deployment d's status is the deployment controller's last write when nothing runs its pods:
    observed, all of them counted updated (its ReplicaSet has created them) and unavailable."""
    status, want = d.get("status", {}), d["spec"]["replicas"]
    assert status.get("observedGeneration") == d["metadata"]["generation"], status
    assert [status.get(k) for k in ("replicas", "updatedReplicas", "unavailableReplicas")] == [want] * 3, status
    assert {c["type"]: c["reason"] for c in status.get("conditions", [])} == \
        {"Available": "MinimumReplicasUnavailable", "Progressing": "ReplicaSetUpdated"}, status

@contextlib.contextmanager
def tuned_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: dict[type, dict[str, object]]
                 ) -> Iterator[ServerThread]:
    """A server whose controllers have these class attributes (periods, timeouts) while it runs."""
    for cls, values in settings.items():
        for name, value in values.items():
            monkeypatch.setattr(cls, name, value)
    srv = ServerThread(str(tmp_path / "data")).start()
    try:
        yield srv
    finally:
        srv.stop()


class Api:
    """JSON in and out; raises for error answers unless the status is one the caller accepts."""

    def __init__(self, config: ClientConfig) -> None:
        self.http = http_client(config)

    def request(self, method: str, path: str, body: object = None, ok: tuple[int, ...] = (),
                content_type: str = "application/json") -> dict:
        content = json.dumps(body).encode() if body is not None else None
        r = self.http.request(method, path, content=content, headers={"Content-Type": content_type})
        if r.status_code >= 400 and r.status_code not in ok:
            raise AssertionError(f"{method} {path}: {r.status_code} {r.text}")
        return r.json() if r.content else {}

    def get(self, path: str, ok: tuple[int, ...] = ()) -> dict:
        return self.request("GET", path, ok=ok)

    def exists(self, path: str) -> bool:
        return self.http.get(path).status_code == 200

    def post(self, path: str, body: dict, ok: tuple[int, ...] = ()) -> dict:
        return self.request("POST", path, body, ok)

    def put(self, path: str, body: dict) -> dict:
        return self.request("PUT", path, body)

    def patch(self, path: str, body: dict) -> dict:
        """A JSON merge patch."""
        return self.request("PATCH", path, body, content_type="application/merge-patch+json")

    def delete(self, path: str, body: dict | None = None, ok: tuple[int, ...] = (404,)) -> dict:
        return self.request("DELETE", path, body, ok)

    def close(self) -> None:
        self.http.close()
