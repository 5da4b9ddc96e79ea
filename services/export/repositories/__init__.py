"""Export's repositories: the service's only Mongo calls (database `<ns>_export`), one per
aggregate, each ensuring the indexes its own queries read through.

- `batches.py`: the batches as export knows them: sealed or not, the item count, how many
  are accepted, and the sequence each group of accepted items is numbered by (`batches`);
- `accepted.py`: the newest accepted annotation of each item (`accepted_items`);
- `deliveries.py`: requested and built packages (`deliveries`);
- `webhooks.py`: each `delivery.ready` webhook and its attempts (`webhooks`).

The project read model (`projects`) is shared/domain/projects.py. What spans two of these in
one transaction is a service of its own: `../intake.py` (events into the read model) and
`../builder.py` (a delivery built and marked ready).
"""

from services.export.repositories.accepted import AcceptedItemRepository
from services.export.repositories.batches import BatchRepository
from services.export.repositories.deliveries import DeliveryRepository
from services.export.repositories.webhooks import WebhookRepository

__all__ = [
    "AcceptedItemRepository",
    "BatchRepository",
    "DeliveryRepository",
    "WebhookRepository",
]
