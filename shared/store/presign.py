"""Presigned GET URLs (AWS Signature V4, query form), computed without the S3 client.

Every `next` answer carries one, so it is on the hot path: the minio client derives the
signing key (four HMACs) and rebuilds the URL machinery on every call. The key depends only
on the secret, the UTC day, the region and the service, so it is kept for the day, leaving one
SHA-256 and one HMAC per URL. Path-style URLs only (MinIO, SeaweedFS and other self-hosted
S3); the URLs equal the minio client's byte for byte (tests/unit/test_presign.py).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


class Presigner:
    def __init__(
        self, endpoint: str, secure: bool, access_key: str, secret_key: str, region: str
    ) -> None:
        self.scheme = "https" if secure else "http"
        self.netloc = _netloc(endpoint, secure)
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self._key_day = ""
        self._key = b""

    def _signing_key(self, day: str) -> bytes:
        if day != self._key_day:
            key = _hmac(("AWS4" + self.secret_key).encode(), day)
            for part in (self.region, "s3", "aws4_request"):
                key = _hmac(key, part)
            self._key_day, self._key = day, key
        return self._key

    def get(self, bucket: str, key: str, expires_s: int, now: datetime | None = None) -> str:
        """A URL that GETs `bucket/key` until `expires_s` seconds from now."""
        if not 1 <= expires_s <= 604_800:
            raise ValueError("expires must be between 1 second and 7 days")
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        day, stamp = moment.strftime("%Y%m%d"), moment.strftime("%Y%m%dT%H%M%SZ")
        scope = f"{day}/{self.region}/s3/aws4_request"
        path = f"/{bucket}/{quote(key, safe='/')}"
        query = (
            f"X-Amz-Algorithm={ALGORITHM}"
            f"&X-Amz-Credential={quote(f'{self.access_key}/{scope}', safe='')}"
            f"&X-Amz-Date={stamp}"
            f"&X-Amz-Expires={expires_s}"
            "&X-Amz-SignedHeaders=host"
        )
        canonical = f"GET\n{path}\n{query}\nhost:{self.netloc}\n\nhost\nUNSIGNED-PAYLOAD"
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        to_sign = f"{ALGORITHM}\n{stamp}\n{scope}\n{digest}"
        signature = hmac.new(self._signing_key(day), to_sign.encode(), hashlib.sha256).hexdigest()
        return f"{self.scheme}://{self.netloc}{path}?{query}&X-Amz-Signature={signature}"


def _netloc(endpoint: str, secure: bool) -> str:
    """host[:port], without the scheme's default port (as the S3 client writes it)."""
    default = ":443" if secure else ":80"
    return endpoint[: -len(default)] if endpoint.endswith(default) else endpoint


def path_style(endpoint: str) -> bool:
    """Whether the S3 client addresses buckets in the path for this endpoint (not AWS)."""
    return "amazonaws.com" not in endpoint.lower()
