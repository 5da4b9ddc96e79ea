"""The presigner makes the same URLs as the S3 client, for any key, time and endpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from minio import Minio

from shared.store.presign import Presigner, path_style

KEYS = [
    "org_a/sha256/ab/abcdef.jpg",
    "with space/and+plus&amp=;semi",
    "unicodé/ключ/键.png",
    "tilde~dot.dash-under_score",
    "a" * 300,
]
MOMENTS = [
    datetime(2026, 12, 2, 3, 4, 5, tzinfo=UTC),
    datetime(2027, 1, 1, 0, 0, 0, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
]


@pytest.mark.parametrize(
    ("endpoint", "secure"),
    [("127.0.0.1:8333", False), ("minio.internal:9000", True), ("s3.example:443", True)],
)
@pytest.mark.parametrize("key", KEYS)
def test_urls_equal_the_s3_clients(endpoint: str, secure: bool, key: str) -> None:
    client = Minio(
        endpoint, access_key="AKIDEXAMPLE", secret_key="s3cr3t/+=", secure=secure, region="eu-1"
    )
    ours = Presigner(endpoint, secure, "AKIDEXAMPLE", "s3cr3t/+=", "eu-1")
    for moment in MOMENTS:
        for ttl in (1, 3600, 604_800):
            expected = client.presigned_get_object(
                "images", key, expires=timedelta(seconds=ttl), request_date=moment
            )
            assert ours.get("images", key, ttl, now=moment) == expected


def test_the_signing_key_follows_the_day() -> None:
    ours = Presigner("127.0.0.1:8333", False, "id", "secret", "us-east-1")
    first = ours.get("b", "k", 60, now=MOMENTS[0])
    next_day = ours.get("b", "k", 60, now=MOMENTS[0] + timedelta(days=1))
    assert first != next_day
    assert ours.get("b", "k", 60, now=MOMENTS[0]) == first  # the old day's key again


def test_expiry_out_of_range_is_refused_and_aws_hosts_are_not_path_style() -> None:
    ours = Presigner("127.0.0.1:8333", False, "id", "secret", "us-east-1")
    for ttl in (0, 604_801):
        with pytest.raises(ValueError):
            ours.get("b", "k", ttl)
    assert path_style("127.0.0.1:8333") and path_style("minio:9000")
    assert not path_style("s3.eu-west-1.amazonaws.com")
