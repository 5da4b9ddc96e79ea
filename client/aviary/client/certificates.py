"""Checking a deletion certificate: its `digest` is the SHA-256 of the rest of it as canonical
JSON (sorted keys, no spaces), so anyone holding the certificate, as the API returns it or as
saved to a file, can recompute it without asking the platform."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from aviary.contracts.ingest import DeletionCertificate


def certificate_digest(certificate: DeletionCertificate | Mapping[str, Any]) -> str:
    """The digest a certificate should carry: SHA-256 (hex) of every field but `digest`."""
    body = (
        certificate.model_dump(mode="json")
        if isinstance(certificate, DeletionCertificate)
        else dict(certificate)
    )
    canonical = json.dumps(
        {k: v for k, v in body.items() if k != "digest"}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def verify_certificate(certificate: DeletionCertificate | Mapping[str, Any]) -> bool:
    """True when the certificate's `digest` matches what it says (a file read back with
    `json.load`, or `DeletionRead.certificate`); False for a changed or malformed one."""
    given = (
        certificate.digest
        if isinstance(certificate, DeletionCertificate)
        else certificate.get("digest")
    )
    if not isinstance(given, str):
        return False
    try:
        expected = certificate_digest(certificate)
    except (TypeError, ValueError):  # not JSON: no certificate the API wrote
        return False
    return hmac.compare_digest(expected, given)
