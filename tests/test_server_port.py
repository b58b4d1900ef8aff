"""The API server binds its port before anything else: a port taken fails at once with EADDRINUSE, and a
port ServerThread chose itself, taken by another process meanwhile, is exchanged for another."""

from __future__ import annotations

import errno
import socket

import pytest

from timoneiro.apiserver import server as server_module
from timoneiro.apiserver.server import ServerThread


def test_a_port_taken_is_refused_or_replaced(tmp_path, monkeypatch):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(OSError) as refused:
            ServerThread(str(tmp_path / "given"), port=port).start()
        assert refused.value.errno == errno.EADDRINUSE
        assert not (tmp_path / "given" / "state.db").exists()  # nothing opened before the bind

        choices = iter([port])
        real_free_port = server_module.free_port
        monkeypatch.setattr(server_module, "free_port", lambda: next(choices, None) or real_free_port())
        srv = ServerThread(str(tmp_path / "chosen")).start()
        try:
            assert srv.port != port and srv.url.endswith(f":{srv.port}")
            with socket.create_connection(("127.0.0.1", srv.port), timeout=5):
                pass
        finally:
            srv.stop()
