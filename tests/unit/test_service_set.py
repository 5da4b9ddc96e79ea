"""ServiceSet refuses to start a process on a port another process already answers on, and
hands its processes every setting through the environment."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from aviary_devkit.processes import ServiceSet, isolated_settings, port_in_use, settings_env
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


def test_the_environment_carries_every_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    wanted = isolated_settings(
        mongo_url="mongodb://127.0.0.1:27123/?directConnection=true",
        amqp_url="amqp://guest:guest@127.0.0.1:5999/",
        s3_secure=True,
        auth_secret="a-different-auth-secret-of-32-chars",
        cors_origins=["http://labels.example"],
    )
    env = settings_env(wanted)
    for name in list(env):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    seen = Settings()
    assert seen.model_dump(exclude={"auth_secret", "operator_key", "s3_secret_key"}) == (
        wanted.model_dump(exclude={"auth_secret", "operator_key", "s3_secret_key"})
    )
    assert seen.auth_secret.get_secret_value() == "a-different-auth-secret-of-32-chars"
