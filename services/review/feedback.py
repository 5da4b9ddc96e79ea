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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypedDict

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


class Details(TypedDict, total=False):
    """What a pair (or an unpaired shape) says beyond its verdict and classes."""

    offset_px: float | None
    track_id: str | None
    frames: tuple[int, int] | None


@dataclass(frozen=True)
class Paired:
    """How the pairing went: (verdict, alike, answer index, submitted index) per pair, and the
    answer's and the submission's indexes left unpaired."""

    pairs: list[tuple[str, float, int, int]]
    missed: list[int]
    extra: list[int]


def pair_up(
    alike: dict[tuple[int, int], float],
    answer_classes: Sequence[int],
    submitted_classes: Sequence[int],
    steady: Callable[[int, int], bool] = lambda ai, si: True,
) -> Paired:
    """Pair the submission's shapes (or tracks) with the answer's, most alike first, whatever
    their classes: `alike` holds how alike each (answer, submitted) pair is as drawn; `steady`
    may refuse "right" to a pair alike enough (a track that strays in part of the clip)."""
    used_a: set[int] = set()
    used_s: set[int] = set()
    pairs: list[tuple[str, float, int, int]] = []
    for (ai, si), score in sorted(alike.items(), key=lambda kv: (kv[1], kv[0]), reverse=True):
        same_class = answer_classes[ai] == submitted_classes[si]
        if score < PAIRED or ai in used_a or si in used_s or (not same_class and score < RIGHT):
            continue  # another object: left for missed and extra
        used_a.add(ai)
        used_s.add(si)
        right = score >= RIGHT and steady(ai, si)
        verdict = "right" if same_class and right else "off" if same_class else "wrong_class"
        pairs.append((verdict, score, ai, si))
    missed = [i for i in range(len(answer_classes)) if i not in used_a]
    extra = [i for i in range(len(submitted_classes)) if i not in used_s]
    return Paired(pairs, missed, extra)


def said(
    paired: Paired,
    ontology: Ontology,
    answer_classes: Sequence[int],
    submitted_classes: Sequence[int],
    details: Callable[[str, int | None, int | None], Details],
) -> list[ShapeFeedback]:
    """The pairing as feedback: the classes' names, the guideline where it went wrong, and
    `details` (the offset, the track and its frames) of each pair or unpaired one."""
    names = {c.id: c.name for c in ontology.classes}
    guidelines = {c.id: c.guideline for c in ontology.classes if c.guideline}

    def name(class_id: int) -> str:
        return names.get(class_id, str(class_id))

    out = [
        ShapeFeedback(
            verdict=verdict,
            class_name=name(submitted_classes[si]),
            expected_class=name(answer_classes[ai]),
            shape_index=si,
            answer_index=ai,
            similarity=round(alike, 3),
            guideline=None if verdict == "right" else guidelines.get(answer_classes[ai]),
            **details(verdict, ai, si),
        )
        for verdict, alike, ai, si in paired.pairs
    ]
    # What is left: the answer's shapes nobody drew (missed), the submission's with no
    # counterpart (extra).
    unpaired: list[tuple[Literal["missed", "extra"], int | None, int | None]] = [
        *(("missed", ai, None) for ai in paired.missed),
        *(("extra", None, si) for si in paired.extra),
    ]
    for verdict, ai, si in unpaired:
        class_id = answer_classes[ai] if ai is not None else submitted_classes[si or 0]
        out.append(
            ShapeFeedback(
                verdict=verdict,
                class_name=None if si is None else name(class_id),
                expected_class=None if ai is None else name(class_id),
                shape_index=si,
                answer_index=ai,
                guideline=guidelines.get(class_id),
                **details(verdict, ai, si),
            )
        )
    return out


def shape_feedback(
    answer: Annotation, submitted: Annotation, ontology: Ontology, width: int, height: int
) -> tuple[float, list[ShapeFeedback]]:
    """The gold score and what each shape got right or wrong."""
    diagonal = math.hypot(width, height)
    alike = {
        (ai, si): _alike(a, s, diagonal)
        for ai, a in enumerate(answer.shapes)
        for si, s in enumerate(submitted.shapes)
    }
    classes = [a.class_id for a in answer.shapes], [s.class_id for s in submitted.shapes]

    def details(verdict: str, ai: int | None, si: int | None) -> Details:
        if verdict != "off" or ai is None or si is None:
            return {}
        return {"offset_px": round(_centre_distance(answer.shapes[ai], submitted.shapes[si]), 1)}

    paired = pair_up(alike, *classes)
    return match_score(answer, submitted, width, height), said(paired, ontology, *classes, details)


def track_feedback(
    answer: TrackAnnotation, submitted: TrackAnnotation, ontology: Ontology, frames: range
) -> tuple[float, list[ShapeFeedback]]:
    """A clip's gold score and what each track got right or wrong (and in which frames)."""
    answer_boxes = [boxes_over(t, frames) for t in answer.tracks]
    submitted_boxes = [boxes_over(t, frames) for t in submitted.tracks]
    alike = {
        (ai, si): mean_iou(answer_boxes[ai], submitted_boxes[si])
        for ai, a in enumerate(answer.tracks)
        for si, s in enumerate(submitted.tracks)
        if a.kind == s.kind
    }
    strays = {
        pair: _stray_frames(answer_boxes[pair[0]], submitted_boxes[pair[1]]) for pair in alike
    }
    classes = [t.class_id for t in answer.tracks], [t.class_id for t in submitted.tracks]

    def details(verdict: str, ai: int | None, si: int | None) -> Details:
        if si is None and ai is not None:  # missed: where the answer has it
            present = sorted(answer_boxes[ai])
            frames_ = (present[0], present[-1]) if present else None
            return {"track_id": answer.tracks[ai].track_id, "frames": frames_}
        if si is None:
            return {}
        out = Details(track_id=submitted.tracks[si].track_id)
        if ai is not None:
            out["frames"] = strays[ai, si][0]
        if verdict == "off" and ai is not None:
            out["offset_px"] = _mean_offset(answer_boxes[ai], submitted_boxes[si])
        return out

    paired = pair_up(alike, *classes, steady=lambda ai, si: strays[ai, si][1] <= STRAYING)
    return track_match_score(answer, submitted, frames), said(paired, ontology, *classes, details)


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
