"""ServiceSet refuses to start a process on a port another process already answers on."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from aviary.sim.processes import ServiceSet, port_in_use
from shared.settings import Settings


def test_a_taken_port_is_refused_before_anything_is_spawned(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        services = ServiceSet(Settings(), tmp_path, port_offset=taken - 8002)
        assert port_in_use(taken)
        with pytest.raises(RuntimeError, match=f"port {taken} for dispatch is already in use"):
            services.start("dispatch")
        assert services.procs == {}
    assert not port_in_use(taken)
