"""What a reviewer sees of a unit: the submission or dispute, its project's classes and
reasons, the image, and for a video clip its frames and tracks."""

from __future__ import annotations

from aviary.contracts.review import ImageView, OverlapView, ReviewView
from services.review.clips import ClipFrames
from services.review.repositories import SubmissionRepository
from services.review.repositories.units import is_dispute
from services.review.speech_consensus import word_diff
from shared.domain.projects import RECENT_S, ProjectReadModel
from shared.errors import NotFound
from shared.events import Annotation, ProjectUpserted, Transcript
from shared.runtime import Runtime
from shared.store.mongo import Doc


async def known_project(
    projects: ProjectReadModel, project_id: str, max_age_s: float = 0.0
) -> ProjectUpserted:
    project = await projects.get(project_id, max_age_s)
    if project is None:
        raise NotFound("project")
    return project


class ReviewViews:
    def __init__(
        self, projects: ProjectReadModel, submissions: SubmissionRepository, runtime: Runtime
    ) -> None:
        self.projects = projects
        self.submissions = submissions
        self.runtime = runtime
        self.clip_frames = ClipFrames(runtime.storage, runtime.settings.presign_ttl_s)

    async def view(self, unit: Doc) -> ReviewView:
        runtime, submissions = self.runtime, self.submissions
        project = await known_project(self.projects, unit["project_id"], RECENT_S)
        image, ttl = unit["image"], runtime.settings.presign_ttl_s
        url = runtime.storage.presigned_get(image["bucket"], image["object_key"], ttl)
        dispute = is_dispute(unit["_id"])
        agreed = Transcript.model_validate(unit["transcript"]) if unit.get("transcript") else None
        clip = unit.get("clip")
        audio = agreed is not None and clip is not None
        media = "audio" if audio else "frames" if clip else "image"
        runtime.media_reads.record(
            unit["item_id"], media, ttl, orgs=[unit["org_id"]], unit_id=unit["_id"]
        )
        overlaps = (
            [
                OverlapView(
                    submission_id=m["_id"],
                    annotator_id=m["annotator_id"],
                    annotation=Annotation.model_validate(m["annotation"]),
                    agreement=m.get("agreement"),
                    tracks=m.get("tracks"),
                    transcript=m.get("transcript"),
                    word_diff=_word_diff(agreed, m.get("transcript")),
                )
                for m in await submissions.members(unit["member_ids"])
            ]
            if dispute
            else []
        )
        lease = unit.get("lease") or {}
        return ReviewView(
            id=unit["_id"],
            kind="consensus" if dispute else "submission",
            task_id=unit["task_id"],
            item_id=unit["item_id"],
            project_id=unit["project_id"],
            annotator_id=unit["annotator_id"],
            status=unit["status"],
            annotation=Annotation.model_validate(unit["merged"] if dispute else unit["annotation"]),
            overlaps=overlaps,
            agreement=unit.get("agreement"),
            classes=list(project.ontology.classes),
            reject_reasons=list(project.reject_reasons),
            instructions=project.instructions,
            image=ImageView(url=url, width=image["width"], height=image["height"]),
            rework=unit.get("rework", 0),
            lease_expires_at=lease.get("expires_at"),
            appeal_comment=(unit.get("appeal") or {}).get("comment"),
            rejection=unit.get("rejection"),
            clip=unit.get("clip"),
            tracks=unit.get("tracks"),
            frames=await self.clip_frames.urls(clip, unit["org_id"])
            if clip and not audio
            else None,
            identity_switches=unit.get("identity_switches"),
            audio=await self.clip_frames.audio(clip, project.audio) if audio and clip else None,
            transcript=agreed,
        )


def _word_diff(
    agreed: Transcript | None, version: Doc | None
) -> list[dict[str, str | list[str]]] | None:
    """A disputed part's version, word by word against the text the annotators agreed on."""
    if agreed is None or version is None:
        return None
    return word_diff(agreed.text, Transcript.model_validate(version).text)
