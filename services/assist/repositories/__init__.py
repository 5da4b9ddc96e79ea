"""Assist's repositories: the service's only Mongo calls (database `<ns>_assist`), one per
aggregate, each ensuring the indexes its own queries read through.

- `items.py`: the items as assist knows them from `item.ingested`: project, organisation,
  where the image is, and a video's frames (`items`).

The project read model (`projects`) is shared/domain/projects.py. The operator's models have
their own repository in `../models/`.
"""

from services.assist.repositories.items import ItemRepository, KnownItem, VideoFrames

__all__ = ["ItemRepository", "KnownItem", "VideoFrames"]
