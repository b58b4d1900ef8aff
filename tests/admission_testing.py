"""A server without controllers for admission tests: what the service account controller would have made
(the default ServiceAccount of a namespace, which the ServiceAccount admission plugin requires of pods) is
made by hand."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import add_default_service_account
from timoneiro.apiserver.server import ServerThread


@contextmanager
def server_without_controllers(tmp_path: Path, *namespaces: str, **options) -> Iterator[ServerThread]:
    """A started server whose `namespaces` have their default ServiceAccount."""
    srv = ServerThread(str(tmp_path / "data"), controllers=False, **options).start()
    try:
        for namespace in namespaces:
            add_default_service_account(srv, namespace)
        yield srv
    finally:
        srv.stop()
