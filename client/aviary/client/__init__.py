"""The Aviary Python SDK: `AsyncClient` and `Client` over every service's API.

from aviary.client import Client
with Client(token) as aviary:
    batch = aviary.create_batch(project_id)
    aviary.upload(batch.id, open("street.jpg", "rb").read(), "street.jpg")
"""

from aviary.client.async_client import AsyncClient
from aviary.client.certificates import verify_certificate
from aviary.client.config import Endpoints
from aviary.client.errors import AviaryError, DeletionTimeout, VerificationError
from aviary.client.packages import verify_file, verify_package
from aviary.client.sync_client import Client
from aviary.contracts.webhooks import verify_signature as verify_webhook

__all__ = [
    "AsyncClient",
    "AviaryError",
    "Client",
    "DeletionTimeout",
    "Endpoints",
    "VerificationError",
    "verify_certificate",
    "verify_file",
    "verify_package",
    "verify_webhook",
]
