"""Signed API tokens carrying organisation, role and vendor; checked on every endpoint.

A token is a standard JWT (RFC 7519, HS256, PyJWT), so any JWT library can read its claims:
`sub`, `org`, `role`, `vendor`, `exp`, `jti`, `iss`. Its header names the signing key (`kid`):
`AVIARY_AUTH_SECRET` signs as `AVIARY_AUTH_KEY_ID`, and `AVIARY_AUTH_RETIRED_SECRETS` keeps
earlier keys verifying until their tokens expire, so the secret can rotate without signing
everyone out. Tokens of the earlier format (`av1.<claims>.<hmac>`) are still accepted until
they expire. Every service verifies tokens on its own, without a lookup, which keeps services
independent (ADR 0003). The operator also has a bootstrap key from settings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from contextvars import ContextVar
from typing import Annotated

import jwt
from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aviary.contracts.roles import Role as Role  # the services name it here too
from shared.errors import AppError
from shared.settings import Settings

LEGACY_PREFIX = "av1"  # tokens of the earlier format: accepted until they expire
ALGORITHM = "HS256"
ISSUER = "aviary"
PLATFORM_ORG = "platform"


VENDOR_ROLES = frozenset({Role.VENDOR_ADMIN, Role.ANNOTATOR, Role.REVIEWER})


class Principal(BaseModel):
    """Who is calling: the claims of a verified token."""

    model_config = ConfigDict(frozen=True)

    sub: str = Field(min_length=1, max_length=200)
    org: str = Field(min_length=1, max_length=200)
    role: Role
    vendor: str | None = None
    exp: int
    jti: str = Field(default_factory=lambda: uuid.uuid4().hex)


# The verified caller of the request being handled (set by `authenticate`).
current_principal: ContextVar[Principal | None] = ContextVar("current_principal", default=None)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())


def new_claims(
    *,
    sub: str,
    org: str,
    role: Role,
    vendor: str | None = None,
    ttl_s: int = 30 * 24 * 3600,
) -> Principal:
    """The claims of a new token for one person or integration (with a fresh id)."""
    if role in VENDOR_ROLES and vendor is None:
        vendor = org
    return Principal(sub=sub, org=org, role=role, vendor=vendor, exp=int(time.time()) + ttl_s)


def sign_claims(settings: Settings, claims: Principal) -> str:
    payload = claims.model_dump(mode="json", exclude_none=True) | {"iss": ISSUER}
    return jwt.encode(
        payload,
        settings.auth_secret.get_secret_value(),
        algorithm=ALGORITHM,
        headers={"kid": settings.auth_key_id},
    )


def verification_keys(settings: Settings) -> dict[str, str]:
    """The keys tokens may be signed with, by `kid`: the current one and the retired ones."""
    keys = {kid: secret.get_secret_value() for kid, secret in settings.auth_retired_secrets.items()}
    return keys | {settings.auth_key_id: settings.auth_secret.get_secret_value()}


def issue_token(
    settings: Settings,
    *,
    sub: str,
    org: str,
    role: Role,
    vendor: str | None = None,
    ttl_s: int = 30 * 24 * 3600,
) -> str:
    """Sign a token for one person or integration."""
    return sign_claims(
        settings, new_claims(sub=sub, org=org, role=role, vendor=vendor, ttl_s=ttl_s)
    )


def _unauthorized(message: str) -> AppError:
    return AppError(
        "unauthorized", message, status_code=401, headers={"WWW-Authenticate": "Bearer"}
    )


# Tokens already verified, by (the keys that may sign, token): an HMAC, a JSON decode and a
# model per request add up at hundreds of requests a second. A hit is still checked for
# expiry (and, by the caller, revocation); the cache never holds a token that failed its check.
_VERIFIED: dict[tuple[tuple[tuple[str, str], ...], str], Principal] = {}
_VERIFIED_KEPT = 10_000


def verify_token(settings: Settings, token: str) -> Principal:
    """The principal a token names, or 401 if it is malformed, forged or expired."""
    cache_key = (tuple(verification_keys(settings).items()), token)
    principal = _VERIFIED.get(cache_key)
    if principal is None:
        principal = _verify(settings, token)
        if len(_VERIFIED) >= _VERIFIED_KEPT:
            _VERIFIED.pop(next(iter(_VERIFIED)))
        _VERIFIED[cache_key] = principal
    if principal.exp < time.time():
        raise _unauthorized("token expired")
    return principal


def _verify(settings: Settings, token: str) -> Principal:
    if hmac.compare_digest(token.encode(), settings.operator_key.get_secret_value().encode()):
        return Principal(sub="operator", org=PLATFORM_ORG, role=Role.OPERATOR, exp=2**62)
    if token.startswith(f"{LEGACY_PREFIX}."):
        return _verify_legacy(settings, token)
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.InvalidTokenError as exc:
        raise _unauthorized("malformed token") from exc
    key = verification_keys(settings).get(kid) if isinstance(kid, str) else None
    if key is None:
        raise _unauthorized("token signed with an unknown key")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],  # never the header's choice: no `none`, no key confusion
            issuer=ISSUER,
            options={"require": ["exp", "sub", "jti", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise _unauthorized("token expired") from exc
    except jwt.InvalidSignatureError as exc:
        raise _unauthorized("invalid token signature") from exc
    except jwt.InvalidTokenError as exc:
        raise _unauthorized("malformed token") from exc
    return _principal(claims)


def _verify_legacy(settings: Settings, token: str) -> Principal:
    """`av1.<claims>.<hmac>`, signed with the current secret or a retired one."""
    parts = token.split(".")
    if len(parts) != 3:
        raise _unauthorized("malformed token")
    if not any(
        hmac.compare_digest(_sign(key, parts[1]).encode(), parts[2].encode())
        for key in verification_keys(settings).values()
    ):
        raise _unauthorized("invalid token signature")
    try:
        claims = json.loads(_unb64(parts[1]))
    except ValueError as exc:
        raise _unauthorized("malformed token claims") from exc
    principal = _principal(claims)
    if principal.exp < time.time():
        raise _unauthorized("token expired")
    return principal


def _principal(claims: object) -> Principal:
    try:
        return Principal.model_validate(claims)
    except ValidationError as exc:
        raise _unauthorized("malformed token claims") from exc


async def authenticate(request: Request) -> Principal:
    """FastAPI dependency: the verified caller, from `Authorization: Bearer <token>`.

    Dependencies are coroutines so FastAPI runs them inline: a plain function would be sent
    to a worker thread on every request, which costs more than the check itself."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("missing bearer token")
    settings: Settings = request.app.state.settings
    principal = verify_token(settings, token.strip())
    revocations = getattr(request.app.state, "revocations", None)
    if revocations is not None and revocations.is_revoked(principal.jti):
        raise _unauthorized("token revoked")
    current_principal.set(principal)  # for the audit log: who did what
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


async def authorize(request: Request, allowed: frozenset[Role]) -> Principal:
    """The verified caller, if its role is one of `allowed` (403 otherwise)."""
    principal = await authenticate(request)
    if principal.role not in allowed:
        raise AppError(
            "forbidden",
            f"role {principal.role.value} may not do this",
            status_code=403,
        )
    return principal


def require_roles(*roles: Role) -> object:
    """A dependency letting only `roles` through (403 for callers in other roles). One
    dependency, not two nested ones: each level costs the framework a resolution pass."""
    allowed = frozenset(roles)

    async def check(request: Request) -> Principal:
        return await authorize(request, allowed)

    return Depends(check)


def org_scope(principal: Principal) -> str | None:
    """The organisation whose data the caller may see; None means all of it (the operator)."""
    return None if principal.role == Role.OPERATOR else principal.org


def vendor_of(principal: Principal) -> str:
    """The vendor of an annotator, reviewer or vendor admin."""
    if principal.vendor is None:
        raise AppError("forbidden", "this credential carries no vendor", status_code=403)
    return principal.vendor
