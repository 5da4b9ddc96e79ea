"""Production refuses the credentials anyone can read in the source, and says which ones."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared import serve
from shared.settings import LOCAL_SECRETS, Settings, describe_invalid, get_settings

STRONG = {"auth_secret": "a" * 32, "operator_key": "b" * 32, "s3_secret_key": "c" * 40}


def test_development_keeps_the_embedded_stacks_defaults() -> None:
    settings = Settings.model_validate({"env": "development"})
    assert settings.auth_secret.get_secret_value() == LOCAL_SECRETS["auth_secret"]


def test_production_with_the_built_in_secrets_is_refused_naming_each() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings.model_validate({"env": "production"})
    message = describe_invalid(refused.value)
    for name in ("AUTH_SECRET", "OPERATOR_KEY", "S3_SECRET_KEY"):
        assert f"AVIARY_{name} is a built-in or example value" in message
    assert "openssl rand -hex 32" in message
    # Secrets never appear in the message.
    assert all(value not in message for value in LOCAL_SECRETS.values())


@pytest.mark.parametrize("name", sorted(STRONG))
def test_an_example_placeholder_is_refused(name: str) -> None:
    values = STRONG | {name: "CHANGE-ME-to-64-random-hex-characters"}
    with pytest.raises(ValidationError, match=f"AVIARY_{name.upper()} is a built-in"):
        Settings.model_validate({"env": "production", **values})


def test_the_operator_key_needs_32_characters_in_production() -> None:
    with pytest.raises(ValidationError, match="AVIARY_OPERATOR_KEY is shorter than 32"):
        Settings.model_validate({"env": "production", **STRONG, "operator_key": "x" * 31})
    assert Settings.model_validate({"env": "production", **STRONG, "operator_key": "x" * 32})
    # Development keeps its own, lower floor.
    assert Settings.model_validate({"env": "development", "operator_key": "x" * 16})


@pytest.mark.parametrize("env", ["development", "production"])
def test_the_token_signing_key_needs_32_characters_everywhere(env: str) -> None:
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings.model_validate({**STRONG, "env": env, "auth_secret": "x" * 31})
    assert Settings.model_validate({**STRONG, "env": env, "auth_secret": "x" * 32})


def test_an_unknown_environment_is_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings.model_validate({"env": "staging"})
    assert describe_invalid(refused.value).splitlines()[1].strip().startswith("AVIARY_ENV: ")


def test_a_field_error_is_named_as_its_environment_variable() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings.model_validate({"auth_secret": "short"})
    lines = describe_invalid(refused.value).splitlines()
    assert lines == [
        "invalid settings:",
        "  AVIARY_AUTH_SECRET: must be at least 32 characters (an HS256 key)",
    ]


def test_a_service_refuses_to_start_with_exit_78_and_the_reason(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AVIARY_ENV", "production")
    monkeypatch.setattr("sys.argv", ["python -m services.ingest", "api"])
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as stopped:
            serve.serve("ingest", lambda runtime: pytest.fail("built an app"))
    finally:
        get_settings.cache_clear()
    assert stopped.value.code == serve.EXIT_CONFIG == 78
    err = capsys.readouterr().err
    assert err.startswith("ingest cannot start: invalid settings:")
    assert "AVIARY_AUTH_SECRET is a built-in or example value" in err
