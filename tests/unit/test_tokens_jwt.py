"""API tokens are standard JWTs with a key id: readable by any JWT library, rotatable, and the
earlier `av1.` tokens still accepted until they expire."""

from __future__ import annotations

import json
import time
import uuid

import jwt
import pytest
from pydantic import SecretStr

from shared.errors import AppError
from shared.security import auth
from shared.security.auth import Principal, Role, issue_token, verify_token
from shared.settings import Settings

OLD_SECRET = "the-secret-before-rotation-" + "0123456789abcdef" * 3  # HS512 wants 64 bytes
NEW_SECRET = "the-secret-after-rotation-9876543210"
BEFORE = Settings.model_validate({"auth_secret": OLD_SECRET, "auth_key_id": "k1"})
AFTER = Settings.model_validate(
    {"auth_secret": NEW_SECRET, "auth_key_id": "k2", "auth_retired_secrets": {"k1": OLD_SECRET}}
)
AFTER_RETIRING = Settings.model_validate({"auth_secret": NEW_SECRET, "auth_key_id": "k2"})


def refused(settings: Settings, token: str) -> str:
    with pytest.raises(AppError) as info:
        verify_token(settings, token)
    assert info.value.status_code == 401 and info.value.code == "unauthorized"
    return info.value.message


def claims(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "sub": "usr_1",
        "org": "org_acme",
        "role": "client",
        "exp": int(time.time()) + 600,
        "jti": uuid.uuid4().hex,
        "iss": "aviary",
    }
    return {k: v for k, v in (base | changes).items() if v is not None}


def legacy_token(secret: str, exp: int) -> str:
    """A token of the earlier format, as 0.1.0 issued them."""
    principal = Principal(sub="usr_9", org="org_acme", role=Role.CLIENT, exp=exp)
    payload = auth._b64(principal.model_dump_json().encode())
    return f"av1.{payload}.{auth._sign(secret, payload)}"


def test_a_token_is_a_standard_jwt_naming_its_key() -> None:
    token = issue_token(BEFORE, sub="usr_1", org="vnd_x", role=Role.ANNOTATOR)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "kid": "k1", "typ": "JWT"}
    read = jwt.decode(token, OLD_SECRET, algorithms=["HS256"], issuer="aviary")
    assert (read["sub"], read["org"], read["role"], read["vendor"]) == (
        "usr_1",
        "vnd_x",
        "annotator",
        "vnd_x",
    )
    assert read["exp"] > time.time() and len(read["jti"]) == 32
    # A client's token carries no vendor claim at all.
    client = issue_token(BEFORE, sub="usr_2", org="org_acme", role=Role.CLIENT)
    assert "vendor" not in jwt.decode(client, OLD_SECRET, algorithms=["HS256"], issuer="aviary")


def test_after_rotation_tokens_of_the_retired_key_still_verify_until_it_is_dropped() -> None:
    earlier = issue_token(BEFORE, sub="usr_1", org="org_acme", role=Role.CLIENT)
    later = issue_token(AFTER, sub="usr_1", org="org_acme", role=Role.CLIENT)
    assert jwt.get_unverified_header(later)["kid"] == "k2"
    assert verify_token(AFTER, earlier).sub == "usr_1"
    assert verify_token(AFTER, later).sub == "usr_1"
    assert "unknown key" in refused(AFTER_RETIRING, earlier)
    assert verify_token(AFTER_RETIRING, later).sub == "usr_1"
    assert "unknown key" in refused(BEFORE, later)


def test_a_known_kid_with_another_keys_signature_is_refused() -> None:
    forged = jwt.encode(claims(), NEW_SECRET, algorithm="HS256", headers={"kid": "k1"})
    assert "signature" in refused(AFTER, forged)


@pytest.mark.parametrize(
    ("key", "algorithm"),
    [(None, "none"), (OLD_SECRET, "HS512"), (OLD_SECRET, "HS384")],
)
def test_the_algorithm_is_pinned_not_taken_from_the_header(key: str | None, algorithm: str) -> None:
    token = jwt.encode(claims(role="operator"), key, algorithm=algorithm, headers={"kid": "k1"})
    refused(BEFORE, token)


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": None},
        {"jti": None},
        {"sub": None},
        {"iss": None},
        {"iss": "someone-else"},
        {"role": "god"},
        {"org": ""},
    ],
)
def test_claims_missing_or_wrong_are_refused(changes: dict[str, object]) -> None:
    token = jwt.encode(claims(**changes), OLD_SECRET, algorithm="HS256", headers={"kid": "k1"})
    refused(BEFORE, token)


def test_an_expired_jwt_says_so() -> None:
    token = jwt.encode(
        claims(exp=int(time.time()) - 5), OLD_SECRET, algorithm="HS256", headers={"kid": "k1"}
    )
    assert refused(BEFORE, token) == "token expired"


def test_a_jwt_without_kid_is_refused() -> None:
    assert "unknown key" in refused(BEFORE, jwt.encode(claims(), OLD_SECRET, algorithm="HS256"))


def test_earlier_av1_tokens_are_accepted_until_they_expire_under_current_or_retired_keys() -> None:
    live = int(time.time()) + 600
    assert verify_token(BEFORE, legacy_token(OLD_SECRET, live)).sub == "usr_9"
    assert verify_token(AFTER, legacy_token(OLD_SECRET, live)).sub == "usr_9"
    assert "signature" in refused(AFTER_RETIRING, legacy_token(OLD_SECRET, live))
    assert refused(BEFORE, legacy_token(OLD_SECRET, int(time.time()) - 1)) == "token expired"


def test_retired_keys_are_checked_like_the_signing_key() -> None:
    strong = {"auth_secret": "a" * 32, "operator_key": "b" * 32, "s3_secret_key": "c" * 40}
    with pytest.raises(ValueError, match="k0: must be at least 32 characters"):
        Settings.model_validate({"auth_retired_secrets": {"k0": "short"}})
    with pytest.raises(ValueError, match="auth_key_id"):
        Settings.model_validate({"auth_key_id": "bad kid!"})
    ok = Settings.model_validate(
        {"env": "production", **strong, "auth_retired_secrets": {"k0": "d" * 32}}
    )
    assert ok.auth_retired_secrets == {"k0": SecretStr("d" * 32)}


def test_retired_keys_read_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVIARY_AUTH_RETIRED_SECRETS", json.dumps({"k1": OLD_SECRET}))
    monkeypatch.setenv("AVIARY_AUTH_KEY_ID", "k2")
    settings = Settings(auth_secret=SecretStr(NEW_SECRET))
    earlier = issue_token(BEFORE, sub="usr_1", org="org_acme", role=Role.CLIENT)
    assert verify_token(settings, earlier).sub == "usr_1"
