"""Which picture a delivery holds where the project blurs faces and plates
(`privacy.redaction`): the client's original when only annotators saw the blurred copy; the
blurred copy when everyone does, with the boxes of the classes marked `redact` (what the
detector missed, drawn by people) blurred as well."""

from __future__ import annotations

import asyncio

from aviary.contracts.privacy import RedactionSettings
from shared.events import ProjectUpserted
from shared.store.mongo import Doc
from shared.store.storage import content_key


def delivered_picture(image: Doc, org_id: str, redaction: RedactionSettings) -> tuple[str, str]:
    """(bucket, key) of the picture a delivery holds."""
    if redaction.mode == "annotators" and "/redacted/" in image["object_key"]:
        return image["bucket"], content_key(org_id, image["sha256"])
    return image["bucket"], image["object_key"]


async def blur_marked(data: bytes, accepted: Doc, project: ProjectUpserted) -> bytes:
    """The picture with the boxes of classes marked `redact` blurred, when everyone sees
    blurred pictures; as it is otherwise."""
    if project.privacy.redaction.mode != "everyone":
        return data
    marked = {c.id for c in project.ontology.classes if c.redact}
    shapes = [
        s
        for s in (accepted.get("annotation") or {}).get("shapes", [])
        if s.get("class_id") in marked and "bbox" in s
    ]
    if not shapes:
        return data
    # OpenCV is loaded by the first delivery that needs it.
    from shared.vision.redaction import redact_jpeg, regions_from_shapes

    regions = regions_from_shapes(shapes)
    result = await asyncio.to_thread(redact_jpeg, data, detect=False, extra=regions)
    return result.jpeg
