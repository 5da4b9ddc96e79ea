"""Who may do what: the roles a token carries."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OPERATOR = "operator"
    CLIENT = "client"
    VENDOR_ADMIN = "vendor_admin"
    ANNOTATOR = "annotator"
    REVIEWER = "reviewer"
