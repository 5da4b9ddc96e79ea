"""Unit tests for signed API tokens (shared/security/auth.py)."""

from __future__ import annotations

import base64
import json
import time

import pytest
from pydantic import SecretStr

from shared.errors import AppError
from shared.security import auth
from shared.security.auth import PLATFORM_ORG, Principal, Role, issue_token, verify_token
from shared.settings import Settings

SETTINGS = Settings(
    auth_secret=SecretStr("unit-test-secret-0123456789abcdef"),
    operator_key=SecretStr("unit-test-operator-key"),
)
OTHER = Settings(
    auth_secret=SecretStr("another-secret-9876543210-abcdefgh"),
    operator_key=SecretStr("unit-test-operator-key"),
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def assert_unauthorized(token: str, settings: Settings = SETTINGS) -> AppError:
    with pytest.raises(AppError) as info:
        verify_token(settings, token)
    assert info.value.status_code == 401
    assert info.value.code == "unauthorized"
    assert info.value.headers.get("WWW-Authenticate") == "Bearer"
    return info.value


# ----- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "vendor"),
    [
        (Role.CLIENT, None),
        (Role.OPERATOR, None),
        (Role.ANNOTATOR, "vnd_labelco"),
        (Role.REVIEWER, "vnd_labelco"),
        (Role.VENDOR_ADMIN, "vnd_labelco"),
    ],
)
def test_round_trip_keeps_claims(role: Role, vendor: str | None) -> None:
    token = issue_token(SETTINGS, sub="usr_1", org="org_acme", role=role, vendor=vendor)
    assert token.startswith("eyJ")  # a JWT: base64url JSON header
    assert token.count(".") == 2
    principal = verify_token(SETTINGS, token)
    assert (principal.sub, principal.org, principal.role, principal.vendor) == (
        "usr_1",
        "org_acme",
        role,
        vendor,
    )
    assert principal.exp > time.time() + 29 * 24 * 3600


@pytest.mark.parametrize("role", [Role.ANNOTATOR, Role.REVIEWER, Role.VENDOR_ADMIN])
def test_vendor_roles_default_vendor_to_org(role: Role) -> None:
    token = issue_token(SETTINGS, sub="usr_2", org="vnd_labelco", role=role)
    assert verify_token(SETTINGS, token).vendor == "vnd_labelco"


def test_client_role_has_no_vendor_by_default() -> None:
    token = issue_token(SETTINGS, sub="usr_3", org="org_acme", role=Role.CLIENT)
    assert verify_token(SETTINGS, token).vendor is None


def test_each_token_has_its_own_id() -> None:
    a = issue_token(SETTINGS, sub="usr_1", org="org_acme", role=Role.CLIENT)
    b = issue_token(SETTINGS, sub="usr_1", org="org_acme", role=Role.CLIENT)
    assert a != b
    assert verify_token(SETTINGS, a).jti != verify_token(SETTINGS, b).jti


def test_ttl_sets_expiry() -> None:
    before = int(time.time())
    token = issue_token(SETTINGS, sub="usr_1", org="org_acme", role=Role.CLIENT, ttl_s=60)
    exp = verify_token(SETTINGS, token).exp
    assert before + 60 <= exp <= int(time.time()) + 60


# ----- forged and broken tokens ------------------------------------------------------------------


def test_tampered_payload_is_refused() -> None:
    token = issue_token(SETTINGS, sub="usr_1", org="org_acme", role=Role.CLIENT)
    prefix, payload, signature = token.split(".")
    claims = json.loads(unb64(payload))
    claims["role"] = "operator"
    claims["org"] = "platform"
    forged = f"{prefix}.{b64(json.dumps(claims).encode())}.{signature}"
    err = assert_unauthorized(forged)
    assert "signature" in err.message


def test_tampered_signature_is_refused() -> None:
    token = issue_token(SETTINGS, sub="usr_1", org="org_acme", role=Role.CLIENT)
    prefix, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert_unauthorized(f"{prefix}.{payload}.{flipped}")
    assert_unauthorized(f"{prefix}.{payload}.")
    assert_unauthorized(f"{prefix}.{payload}.{signature}x")


def test_token_signed_with_another_secret_is_refused() -> None:
    token = issue_token(OTHER, sub="usr_1", org="org_acme", role=Role.OPERATOR)
    assert verify_token(OTHER, token).role is Role.OPERATOR
    assert_unauthorized(token, SETTINGS)


def test_wrong_prefix_is_refused() -> None:
    token = issue_token(SETTINGS, sub="usr_1", org="org_acme", role=Role.CLIENT)
    assert_unauthorized("av2." + token.split(".", 1)[1])


@pytest.mark.parametrize(
    "token", ["", "a.b", "av1.x", "av1", "av1..", "a.b.c", "av1.x.y.z", "Bearer av1.x.y", "..."]
)
def test_malformed_tokens_are_refused(token: str) -> None:
    assert_unauthorized(token)


def test_validly_signed_garbage_claims_are_refused_not_crashed() -> None:
    secret = SETTINGS.auth_secret.get_secret_value()
    for payload in (
        b64(b"not json"),
        b64(b"[1, 2, 3]"),
        b64(json.dumps({"sub": "x", "org": "y"}).encode()),
        b64(json.dumps({"sub": "x", "org": "y", "role": "god", "exp": 2**40}).encode()),
        b64(b"\xff\xfe\xfd"),
        "!!not-base64!!",
    ):
        assert_unauthorized(f"av1.{payload}.{auth._sign(secret, payload)}")


def test_negative_ttl_is_expired() -> None:
    token = issue_token(SETTINGS, sub="usr_1", org="org_acme", role=Role.CLIENT, ttl_s=-1)
    err = assert_unauthorized(token)
    assert "expired" in err.message


def test_token_expires_when_time_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    token = issue_token(SETTINGS, sub="usr_1", org="org_acme", role=Role.CLIENT, ttl_s=60)
    verify_token(SETTINGS, token)
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 30)
    assert verify_token(SETTINGS, token).sub == "usr_1"
    monkeypatch.setattr(time, "time", lambda: now + 3600)
    assert_unauthorized(token)


# ----- the operator key --------------------------------------------------------------------------


def test_operator_key_yields_the_operator() -> None:
    principal = verify_token(SETTINGS, "unit-test-operator-key")
    assert isinstance(principal, Principal)
    assert principal.role is Role.OPERATOR
    assert principal.org == PLATFORM_ORG
    assert principal.exp > time.time() + 10 * 365 * 24 * 3600


def test_operator_key_comes_from_settings() -> None:
    custom = Settings(
        auth_secret=SecretStr("s" * 32), operator_key=SecretStr("another-operator-key")
    )
    assert verify_token(custom, "another-operator-key").role is Role.OPERATOR
    assert_unauthorized("unit-test-operator-key", custom)


@pytest.mark.parametrize(
    "near", ["unit-test-operator-ke", "unit-test-operator-key ", "UNIT-TEST-OPERATOR-KEY"]
)
def test_near_miss_operator_key_is_refused(near: str) -> None:
    assert_unauthorized(near)


@pytest.mark.parametrize("field", ["auth_secret", "operator_key"])
def test_short_or_empty_secrets_are_refused_at_start_up(field: str) -> None:
    with pytest.raises(ValueError, match="must be at least"):
        Settings(**{field: SecretStr("")})  # type: ignore[arg-type]
