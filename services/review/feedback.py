"""Feedback on a training task: a submission compared with its known answer, shape by shape
(or word by word), so a new annotator sees at once what was right and what was not.

Shapes are paired with the answer's greedily, most alike first, whatever their class (a box
round the right car with the wrong class is a wrong class, not a miss and an extra): alike
enough (`RIGHT`) and the same class is right; the same class but less alike is off (with how
far its centre is from the answer's); alike enough but another class is a wrong class. What
is left unpaired is missed (the answer's) or extra (the submission's). A video clip's tracks
are paired the same way by their mean box IoU over the clip's frames, and an off track says
in which frames it strays. Pure: no storage.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence

from aviary.contracts.onboarding import Feedback, ShapeFeedback, WordFeedback
from aviary.contracts.shapes import Annotation, Ontology, Shape
from aviary.contracts.speech import Transcript
from aviary.contracts.tracks import TrackAnnotation
from services.review.consensus import match_score, similarity
from services.review.track_consensus import track_match_score
from shared.domain.tracks import Box, box_iou, boxes_over, mean_iou

# Alike enough to be the same object (the consensus and gold threshold).
RIGHT = 0.5
# Less alike than this, two shapes are not paired at all.
PAIRED = 0.1
# A track straying from its object in more of the clip's frames than this is off, even when
# it is on it enough of the clip to count for the gold score.
STRAYING = 0.1
WORD = re.compile(r"[\w']+")


def shape_feedback(
    answer: Annotation, submitted: Annotation, ontology: Ontology, width: int, height: int
) -> tuple[float, list[ShapeFeedback]]:
    """The gold score and what each shape got right or wrong."""
    diagonal = math.hypot(width, height)
    pairs = sorted(
        (
            (_alike(a, s, diagonal), ai, si)
            for ai, a in enumerate(answer.shapes)
            for si, s in enumerate(submitted.shapes)
        ),
        reverse=True,
    )
    names = {c.id: c.name for c in ontology.classes}
    guidelines = {c.id: c.guideline for c in ontology.classes if c.guideline}
    used_a: set[int] = set()
    used_s: set[int] = set()
    out: list[ShapeFeedback] = []
    for alike, ai, si in pairs:
        if alike < PAIRED or ai in used_a or si in used_s:
            continue
        a, s = answer.shapes[ai], submitted.shapes[si]
        same_class = a.class_id == s.class_id
        if not same_class and alike < RIGHT:
            continue  # another object: left for missed and extra
        used_a.add(ai)
        used_s.add(si)
        verdict = (
            "right" if same_class and alike >= RIGHT else "off" if same_class else "wrong_class"
        )
        out.append(
            ShapeFeedback(
                verdict=verdict,
                class_name=names.get(s.class_id, str(s.class_id)),
                expected_class=names.get(a.class_id, str(a.class_id)),
                shape_index=si,
                answer_index=ai,
                similarity=round(alike, 3),
                offset_px=round(_centre_distance(a, s), 1) if verdict == "off" else None,
                guideline=None if verdict == "right" else guidelines.get(a.class_id),
            )
        )
    for ai, a in enumerate(answer.shapes):
        if ai not in used_a:
            out.append(
                ShapeFeedback(
                    verdict="missed",
                    expected_class=names.get(a.class_id, str(a.class_id)),
                    answer_index=ai,
                    guideline=guidelines.get(a.class_id),
                )
            )
    for si, s in enumerate(submitted.shapes):
        if si not in used_s:
            out.append(
                ShapeFeedback(
                    verdict="extra",
                    class_name=names.get(s.class_id, str(s.class_id)),
                    shape_index=si,
                    guideline=guidelines.get(s.class_id),
                )
            )
    return match_score(answer, submitted, width, height), out


def track_feedback(
    answer: TrackAnnotation, submitted: TrackAnnotation, ontology: Ontology, frames: range
) -> tuple[float, list[ShapeFeedback]]:
    """A clip's gold score and what each track got right or wrong (and in which frames)."""
    answer_boxes = [boxes_over(t, frames) for t in answer.tracks]
    submitted_boxes = [boxes_over(t, frames) for t in submitted.tracks]
    pairs = sorted(
        (
            (mean_iou(answer_boxes[ai], submitted_boxes[si]), ai, si)
            for ai, a in enumerate(answer.tracks)
            for si, s in enumerate(submitted.tracks)
            if a.kind == s.kind
        ),
        reverse=True,
    )
    names = {c.id: c.name for c in ontology.classes}
    guidelines = {c.id: c.guideline for c in ontology.classes if c.guideline}
    used_a: set[int] = set()
    used_s: set[int] = set()
    out: list[ShapeFeedback] = []
    for alike, ai, si in pairs:
        a, s = answer.tracks[ai], submitted.tracks[si]
        same_class = a.class_id == s.class_id
        if alike < PAIRED or ai in used_a or si in used_s or (not same_class and alike < RIGHT):
            continue
        used_a.add(ai)
        used_s.add(si)
        strays, stray_share = _stray_frames(answer_boxes[ai], submitted_boxes[si])
        steady = alike >= RIGHT and stray_share <= STRAYING
        verdict = "right" if same_class and steady else "off" if same_class else "wrong_class"
        out.append(
            ShapeFeedback(
                verdict=verdict,
                class_name=names.get(s.class_id, str(s.class_id)),
                expected_class=names.get(a.class_id, str(a.class_id)),
                shape_index=si,
                answer_index=ai,
                similarity=round(alike, 3),
                offset_px=_mean_offset(answer_boxes[ai], submitted_boxes[si])
                if verdict == "off"
                else None,
                guideline=None if verdict == "right" else guidelines.get(a.class_id),
                track_id=s.track_id,
                frames=strays if verdict != "right" or strays else None,
            )
        )
    for ai, a in enumerate(answer.tracks):
        if ai not in used_a:
            present = sorted(answer_boxes[ai])
            out.append(
                ShapeFeedback(
                    verdict="missed",
                    expected_class=names.get(a.class_id, str(a.class_id)),
                    answer_index=ai,
                    guideline=guidelines.get(a.class_id),
                    track_id=a.track_id,
                    frames=(present[0], present[-1]) if present else None,
                )
            )
    for si, s in enumerate(submitted.tracks):
        if si not in used_s:
            out.append(
                ShapeFeedback(
                    verdict="extra",
                    class_name=names.get(s.class_id, str(s.class_id)),
                    shape_index=si,
                    guideline=guidelines.get(s.class_id),
                    track_id=s.track_id,
                )
            )
    return track_match_score(answer, submitted, frames), out


def _stray_frames(
    answer: dict[int, Box | None], submitted: dict[int, Box | None]
) -> tuple[tuple[int, int] | None, float]:
    """The first and last frame where the track is not where the answer has it, and the
    share of the frames (where either is present) that it strays in."""
    present = answer.keys() | submitted.keys()
    strays = sorted(f for f in present if box_iou(answer.get(f), submitted.get(f)) < RIGHT)
    share = len(strays) / len(present) if present else 0.0
    return ((strays[0], strays[-1]) if strays else None), share


def _mean_offset(answer: dict[int, Box | None], submitted: dict[int, Box | None]) -> float | None:
    """How far the track's box centre is from the answer's, on average where both are drawn."""
    both = [
        (a, s)
        for f in answer.keys() & submitted.keys()
        if (a := answer[f]) is not None and (s := submitted[f]) is not None
    ]
    if not both:
        return None
    total = sum(
        math.dist((a[0] + a[2] / 2, a[1] + a[3] / 2), (s[0] + s[2] / 2, s[1] + s[3] / 2))
        for a, s in both
    )
    return round(total / len(both), 1)


def _alike(a: Shape, s: Shape, diagonal: float) -> float:
    """How alike two shapes are as drawn, whatever their classes."""
    if a.kind != s.kind:
        return 0.0
    return similarity(a, s.model_copy(update={"class_id": a.class_id}), diagonal)


def _centre_distance(a: Shape, s: Shape) -> float:
    ax, ay, aw, ah = a.outer_box() if hasattr(a, "outer_box") else _bounds(a)
    sx, sy, sw, sh = s.outer_box() if hasattr(s, "outer_box") else _bounds(s)
    return math.dist((ax + aw / 2, ay + ah / 2), (sx + sw / 2, sy + sh / 2))


def _bounds(shape: Shape) -> tuple[float, float, float, float]:
    drawn = getattr(shape, "points", None) or getattr(shape, "keypoints", None) or ()
    points = [p for p in drawn if len(p) >= 2]
    if not points:
        return 0.0, 0.0, 0.0, 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)


def word_feedback(answer: Transcript, submitted: Transcript) -> tuple[float, list[WordFeedback]]:
    """Each word of the transcript against the known one (in order, case and punctuation
    aside), and the share of the answer's words written right (1.0 for two silent parts)."""
    expected = _words(answer)
    written = _words(submitted)
    out: list[WordFeedback] = []
    matcher = difflib.SequenceMatcher(a=expected, b=written, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            out += [WordFeedback(verdict="right", word=w, expected=w) for w in written[b0:b1]]
            continue
        pairs = min(a1 - a0, b1 - b0) if op == "replace" else 0
        for k in range(pairs):
            out.append(
                WordFeedback(verdict="wrong", word=written[b0 + k], expected=expected[a0 + k])
            )
        out += [WordFeedback(verdict="missed", expected=w) for w in expected[a0 + pairs : a1]]
        out += [WordFeedback(verdict="extra", word=w) for w in written[b0 + pairs : b1]]
    right = sum(f.verdict == "right" for f in out)
    score = right / max(len(expected), len(written)) if expected or written else 1.0
    return score, out


def _words(transcript: Transcript) -> list[str]:
    return [w.lower() for s in transcript.segments for w in WORD.findall(s.text)]


def feedback(
    submission_id: str,
    project_id: str,
    score: float,
    shapes: Sequence[ShapeFeedback] = (),
    words: Sequence[WordFeedback] = (),
    answer: Annotation | None = None,
    instructions: str = "",
) -> Feedback:
    items: Sequence[ShapeFeedback | WordFeedback] = shapes or words
    right = sum(f.verdict == "right" for f in items)
    return Feedback(
        submission_id=submission_id,
        project_id=project_id,
        score=round(score, 4),
        right=right,
        wrong=len(items) - right,
        shapes=list(shapes),
        words=list(words),
        answer=answer,
        instructions=instructions,
    )
