"""Ingest's repositories: the service's only Mongo calls (database `<ns>_ingest`), one per
aggregate, each ensuring the indexes its own queries read through.

- `orgs.py`: organisations, clients and vendors (`orgs`);
- `tokens.py`: issued tokens, never their value, so they can be listed and revoked (`tokens`);
- `projects.py`: projects, versioned, each version published (`projects`);
- `batches.py`: batches and their counts, spread over shard documents (`batches`,
  `batch_counters`);
- `items.py`: the items, one per image per project (`items`);
- `uploads.py`: presigned uploads waiting to be confirmed (`uploads`);
- `sequences.py`: image sequences sent frame by frame, until closed (`sequences`,
  `sequence_frames`);
- `imports.py`: URL imports and each URL's outcome (`imports`, `import_urls`);
- `deletions.py`: deletions requested, each service's report and the certificate
  (`deletions`).

What spans two of these in one transaction (items, imports and the seal counted into their
batch; progress from other services' events) is the batch ledger, `../ledger.py`.
"""

from services.ingest.repositories.batches import BatchRepository
from services.ingest.repositories.deletions import DeletionRepository
from services.ingest.repositories.imports import ImportOutcome, ImportRepository
from services.ingest.repositories.items import ItemRepository
from services.ingest.repositories.orgs import OrgRepository
from services.ingest.repositories.projects import ProjectRepository
from services.ingest.repositories.sequences import SequenceRepository
from services.ingest.repositories.tokens import TokenRepository
from services.ingest.repositories.uploads import UploadRepository

__all__ = [
    "BatchRepository",
    "DeletionRepository",
    "ImportOutcome",
    "ImportRepository",
    "ItemRepository",
    "OrgRepository",
    "ProjectRepository",
    "SequenceRepository",
    "TokenRepository",
    "UploadRepository",
]
