"""Checking delivered transcripts against the recordings they were made from.

An audio delivery is right when every recording is in it, its words are close to what was
said (word error rate, as speech teams measure it, with jiwer) and its speaker turns are
where the speakers changed. A delivery cannot be exactly right, as a simulated transcriber
makes human errors on purpose; the caller says how many words may be wrong (`max_wer`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jiwer

from aviary.contracts.speech import Transcript

_PUNCTUATION = re.compile(r"[^\w\s]")
DEFAULT_MAX_SPEAKER_MISMATCH = 0.15  # of the truth's speech segments


@dataclass(frozen=True)
class Heard:
    """A delivered segment, whichever format it came in."""

    start: float
    end: float
    event: str
    text: str
    speaker: str | None


def normalize(text: str) -> str:
    """Lower case, no punctuation (an apostrophe included), single spaces."""
    return " ".join(_PUNCTUATION.sub("", text.lower()).split())


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of `hypothesis` against `reference`, after `normalize`."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return float(jiwer.wer(ref, hyp))


def heard(line: Mapping[str, Any]) -> Heard:
    """One delivered segment: a segments-JSON entry (`start`, `end`) or a NeMo manifest line
    (`offset`, `duration`); `event` is speech unless it says otherwise."""
    if "start" in line:
        start, end = float(line["start"]), float(line["end"])
    else:
        start = float(line["offset"])
        end = start + float(line["duration"])
    speaker = line.get("speaker")
    return Heard(
        start,
        end,
        str(line.get("event") or "speech"),
        str(line.get("text") or ""),
        None if speaker in (None, "") else str(speaker),
    )


def check_delivery(
    truth: Mapping[str, Transcript],
    delivered: Mapping[str, Sequence[Mapping[str, Any]]],
    max_wer: float,
    max_speaker_mismatch: float = DEFAULT_MAX_SPEAKER_MISMATCH,
) -> list[str]:
    """Every way the delivery falls short of the truth; empty when it is good enough.

    `truth` and `delivered` are keyed by item id; a delivered item is its segments as dicts
    (see `heard`). Per recording: the word error rate of all its speech, in time order, must
    be at most `max_wer`, and at most `max_speaker_mismatch` of the truth's speech segments
    may be heard with the wrong speaker or not at all (speaker names are matched by overlap,
    so a delivery may call them anything).
    """
    problems: list[str] = []
    missing = sorted(set(truth) - set(delivered))
    if missing:
        problems.append(f"{len(missing)} items not delivered: {', '.join(missing[:5])}")
    extra = sorted(set(delivered) - set(truth))
    if extra:
        problems.append(
            f"{len(extra)} items delivered that were never sent: {', '.join(extra[:5])}"
        )
    for item_id in sorted(set(truth) & set(delivered)):
        try:
            segments = sorted((heard(line) for line in delivered[item_id]), key=lambda h: h.start)
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"item {item_id}: a segment cannot be read ({exc!r})")
            continue
        if any(h.end <= h.start for h in segments):
            problems.append(f"item {item_id}: a segment ends before it starts")
        said = " ".join(h.text for h in segments if h.event == "speech")
        rate = wer(truth[item_id].text, said)
        if rate > max_wer:
            problems.append(f"item {item_id}: word error rate {rate:.1%} over {max_wer:.1%}")
        mismatch = speaker_mismatch(truth[item_id], segments)
        if mismatch > max_speaker_mismatch:
            problems.append(
                f"item {item_id}: {mismatch:.0%} of the speech segments have the wrong speaker "
                f"or none (at most {max_speaker_mismatch:.0%})"
            )
    return problems


def speaker_mismatch(truth: Transcript, segments: Sequence[Heard], rename: bool = True) -> float:
    """The share of the truth's speech segments (with a speaker) whose most-overlapping
    delivered speech segment has another speaker, or that none overlaps.

    With `rename`, delivered names are mapped to the truth's one to one, largest shared speech
    time first (a whole recording may call its speakers anything). Without it, names must be
    the truth's: a part alone cannot tell a consistent renaming from a wrong speaker.
    """
    spoken = [s for s in truth.segments if s.event == "speech" and s.speaker is not None]
    if not spoken:
        return 0.0
    voiced = [h for h in segments if h.event == "speech"]
    shared: dict[tuple[str, str], float] = {}
    for s in spoken:
        for h in voiced:
            if h.speaker is not None and (both := _overlap(s.start, s.end, h.start, h.end)) > 0:
                key = (str(s.speaker), h.speaker)
                shared[key] = shared.get(key, 0.0) + both
    names: dict[str, str] = {}  # delivered name -> truth name
    for (said_by, named), _ in sorted(shared.items(), key=lambda kv: -kv[1]):
        if named not in names and said_by not in names.values():
            names[named] = said_by
    wrong = 0
    for s in spoken:
        best = max(voiced, key=lambda h: _overlap(s.start, s.end, h.start, h.end), default=None)
        heard_by = None
        if best is not None and _overlap(s.start, s.end, best.start, best.end) > 0:
            heard_by = best.speaker if not rename else names.get(best.speaker or "")
        wrong += heard_by != s.speaker
    return wrong / len(spoken)


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))
