"""Consensus across overlaps of one part of a recording: match the annotators' segments, compare
their words, merge.

Two annotators' segments of one event class match when they cover the same stretch: their
temporal IoU reaches the project's threshold. Text does not decide whether speech segments
match (a segment heard in the same place with other words is a disagreement about words, which
the word error rate measures), but it orders the matching: pairs join clusters greedily, best
first, as shapes and tracks do (`consensus.join_pairs`), and for speech "best" is the mean of
the IoU and the texts' similarity (1 - WER), so overlapping speakers pair with their own words.
A cluster of a majority of annotators is agreed. The merged segment takes the members' median
start and end; its text is the medoid's (the member with the lowest summed WER to the others:
words are a person's reading, not something to average), its speaker, language and attributes
by majority, ties going to the medoid.

A part is accepted when the agreed clusters hold `min_agreement` of all segments and the
agreed texts' mean pairwise WER is at most `max_wer`. The pairwise WER of two annotators is over
the agreed speech clusters both are in, pooled (edits over words, so a one-word segment does not
weigh as much as a sentence), and symmetric: the mean of the two directions.

Texts are compared after `normalise_text` (case, punctuation, whitespace). Word error rates come
from jiwer (its alignment is rapidfuzz's Levenshtein on word ids), but not as `jiwer.wer(a, b)`
with a transform chain on raw text: measured on the bench's part (3 annotators, 6 segments of
about 13 words; speech_consensus_bench.py), jiwer's chain of lower case, punctuation, spaces
and split costs about 50 us a pair of texts against 11 us for `process_words` on text
normalised once (a split only), and a consensus compares each pair several times (ordering,
medoid, pairwise WER, scores): 9.2 ms a part with the chain on every comparison, 0.7 ms with
each text normalised once and each pair's edits computed once (`_Words`). The rest of those
11 us is jiwer's bookkeeping around rapidfuzz (0.4 us a pair), which is not worth leaving a
maintained library for at these sizes.
"""

from __future__ import annotations

import bisect
import statistics
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TypeVar

import jiwer

from aviary.contracts.speech import AttributeValue, Segment, Transcript
from services.review.consensus import Cluster, agreed_clusters, join_pairs, shares

_SPLIT = jiwer.ReduceToListOfListOfWords()  # normalised text needs no more than a split
_CHARS = jiwer.ReduceToListOfListOfChars()
T = TypeVar("T")


@dataclass(frozen=True)
class SpeechConsensus:
    accepted: bool  # agreement >= min_agreement and text_wer <= max_wer
    merged: Transcript
    agreement: float  # segments in agreed clusters / all segments (1.0 when nobody made any)
    per_annotator: tuple[float, ...]  # each version's transcript_score against the merged
    agreed_segments: int
    disputed_segments: int
    text_wer: float  # the mean of pairwise_wer (0.0 when no two annotators share speech)
    # (annotator i, annotator j), i < j -> their WER over the agreed speech both are in.
    pairwise_wer: Mapping[tuple[int, int], float]


# ----- text ------------------------------------------------------------------------------


@cache
def _punctuation() -> dict[int, str | None]:
    """Unicode punctuation (categories P*): dashes become spaces ("well-known" and "well
    known" are one thing said), the rest goes ("don't" reads "dont"). Built on first use:
    about 0.07 s, once a process."""
    table: dict[int, str | None] = {}
    for code in range(sys.maxunicode + 1):
        category = unicodedata.category(chr(code))
        if category[0] == "P":
            table[code] = " " if category == "Pd" else None
    return table


def normalise_text(text: str) -> str:
    """Text as words are compared: Unicode compatibility forms folded (NFKC: a composed and a
    decomposed accent, full-width letters), lower case, punctuation removed (dashes made
    spaces), whitespace collapsed to single spaces and trimmed."""
    folded = unicodedata.normalize("NFKC", text).lower().translate(_punctuation())
    return " ".join(folded.split())


def _rate(edits: int, reference: int, hypothesis: int) -> float:
    """An error rate; against an empty reference, 0 when nothing was said and 1 otherwise."""
    if reference == 0:
        return 0.0 if hypothesis == 0 else 1.0
    return edits / reference


def _word_edits(reference: str, hypothesis: str) -> int:
    """Word-level Levenshtein distance of two normalised texts."""
    if not reference or not hypothesis:
        return len(reference.split()) + len(hypothesis.split())
    out = jiwer.process_words(reference, hypothesis, _SPLIT, _SPLIT)
    return out.substitutions + out.deletions + out.insertions


def text_errors(reference: str, hypothesis: str) -> tuple[float, float]:
    """(WER, CER) of `hypothesis` against `reference`, both normalised first (`normalise_text`).
    The CER counts the spaces between words. Either may exceed 1 (insertions)."""
    ref, hyp = normalise_text(reference), normalise_text(hypothesis)
    wer = _rate(_word_edits(ref, hyp), len(ref.split()), len(hyp.split()))
    if not ref or not hyp:
        return wer, _rate(len(ref) + len(hyp), len(ref), len(hyp))
    chars = jiwer.process_characters(ref, hyp, _CHARS, _CHARS)
    return wer, _rate(chars.substitutions + chars.deletions + chars.insertions, len(ref), len(hyp))


def word_diff(reference: str, hypothesis: str) -> list[dict[str, str | list[str]]]:
    """The word alignment of `hypothesis` to `reference` (both normalised) for the review desk:
    runs of `equal`, `substitute`, `insert` and `delete`, each with its reference words
    (`ref`) and hypothesis words (`hyp`), from jiwer's alignment chunks."""
    ref, hyp = normalise_text(reference).split(), normalise_text(hypothesis).split()
    if not ref or not hyp:  # jiwer 3 refuses an empty reference; nothing to align anyway
        if ref:
            return [{"op": "delete", "ref": ref, "hyp": []}]
        return [{"op": "insert", "ref": [], "hyp": hyp}] if hyp else []
    out = jiwer.process_words(" ".join(ref), " ".join(hyp), _SPLIT, _SPLIT)
    return [
        {
            "op": chunk.type,
            "ref": ref[chunk.ref_start_idx : chunk.ref_end_idx],
            "hyp": hyp[chunk.hyp_start_idx : chunk.hyp_end_idx],
        }
        for chunk in out.alignments[0]
    ]


# ----- time ------------------------------------------------------------------------------


def segment_iou(a: Segment, b: Segment) -> float:
    """Temporal IoU: the time both cover over the time either covers."""
    inter = min(a.end, b.end) - max(a.start, b.start)
    if inter <= 0:
        return 0.0
    return inter / (a.duration + b.duration - inter)


def _overlapping(
    mine: Sequence[Segment], theirs: Sequence[Segment], starts: list[float], threshold: float
) -> Iterator[tuple[float, int, int]]:
    """(IoU, p, q) for segments of one event class at the threshold or above. `theirs` is in
    start order (`starts`); an IoU of t needs the other to start after `p.start - p.duration *
    (1/t - 1)` and before p ends, so only that window is looked at."""
    for p, a in enumerate(mine):
        reach = a.duration * (1 / threshold - 1) if threshold > 0 else float("inf")
        first = bisect.bisect_left(starts, a.start - reach - 1e-9)
        for q in range(first, bisect.bisect_left(starts, a.end)):
            b = theirs[q]
            if b.event == a.event and (iou := segment_iou(a, b)) >= threshold:
                yield iou, p, q


class _Words:
    """The versions' normalised texts, and each pair's word edits, computed once."""

    def __init__(self, versions: Sequence[Sequence[Segment]]) -> None:
        self.text = [[normalise_text(s.text) for s in own] for own in versions]
        self.count = [[len(t.split()) for t in own] for own in self.text]
        self._edits: dict[tuple[int, int, int, int], int] = {}

    def edits(self, i: int, p: int, j: int, q: int) -> int:
        key = (i, p, j, q) if (i, p) < (j, q) else (j, q, i, p)
        if key not in self._edits:
            a, b, c, d = key
            self._edits[key] = _word_edits(self.text[a][b], self.text[c][d])
        return self._edits[key]

    def wer(self, i: int, p: int, j: int, q: int) -> float:
        """Of (j, q) against (i, p) as the reference."""
        return _rate(self.edits(i, p, j, q), self.count[i][p], self.count[j][q])

    def mutual_wer(self, i: int, p: int, j: int, q: int) -> float:
        """The mean of both directions."""
        return (self.wer(i, p, j, q) + self.wer(j, q, i, p)) / 2


def _pairs(
    versions: Sequence[Sequence[Segment]], words: _Words, threshold: float
) -> list[tuple[float, int, int, int, int]]:
    """(order, annotator i, segment p, annotator j, segment q) for segments that match; the
    order is the IoU, averaged with the texts' similarity for speech."""
    pairs = []
    for j, theirs in enumerate(versions):
        starts = [s.start for s in theirs]
        for i in range(j):
            for iou, p, q in _overlapping(versions[i], theirs, starts, threshold):
                order = iou
                if versions[i][p].event == "speech":
                    order = (iou + 1 - min(1.0, words.mutual_wer(i, p, j, q))) / 2
                pairs.append((order, i, p, j, q))
    return pairs


# ----- merging ---------------------------------------------------------------------------


def _vote(values: Sequence[T], fallback: T) -> T:
    """The most common value; a tie goes to `fallback` (the medoid's) when it is among the
    tied. Values are told apart with their type (True and 1.0 are not one vote)."""
    counts = Counter((type(v).__name__, v) for v in values)
    top = max(counts.values())
    tied = [key for key, n in counts.items() if n == top]
    if len(tied) == 1:
        return tied[0][1]
    return fallback if (type(fallback).__name__, fallback) in tied else tied[0][1]


def _medoid(
    members: list[tuple[int, int]], versions: Sequence[Sequence[Segment]], words: _Words
) -> int:
    """Which member stands for the cluster: the lowest summed WER to the others (speech), then
    the highest summed IoU, then the first annotator."""

    def cost(m: tuple[int, int]) -> tuple[float, float, int]:
        a, p = m
        others = [o for o in members if o != m]
        segment = versions[a][p]
        wer = (
            sum(words.mutual_wer(a, p, b, q) for b, q in others)
            if segment.event == "speech"
            else 0.0
        )
        iou = sum(segment_iou(segment, versions[b][q]) for b, q in others)
        return wer, -iou, a

    return min(range(len(members)), key=lambda k: cost(members[k]))


def _merge(
    cluster: Cluster,
    versions: Sequence[Sequence[Segment]],
    words: _Words,
    part: tuple[float, float],
    segment_id: str,
) -> Segment:
    members = sorted(cluster.members.items())
    segments = [versions[a][p] for a, p in members]
    medoid = segments[_medoid(members, versions, words)]
    low, high = part
    start = round(min(max(statistics.median(s.start for s in segments), low), high), 3)
    end = round(min(max(statistics.median(s.end for s in segments), low), high), 3)
    attributes: dict[str, AttributeValue] = {}
    for name in sorted({n for s in segments for n in s.attributes}):
        values = [s.attributes[name] for s in segments if name in s.attributes]
        attributes[name] = _vote(values, medoid.attributes.get(name, values[0]))
    return Segment(
        segment_id=segment_id,
        start=start,
        end=max(end, round(start + 0.001, 3)),  # a median of ends is past that of starts
        event=medoid.event,
        text=medoid.text,
        speaker=_vote([s.speaker for s in segments], medoid.speaker),
        language=_vote([s.language for s in segments], medoid.language),
        attributes=attributes,
    )


def _settle(segments: list[Segment]) -> tuple[Segment, ...]:
    """The merged segments in start order, with no two of one speaker overlapping (medians of
    different clusters can): the overlap is split at its middle; where that would leave one
    of them nothing, the later one keeps its time and loses its speaker."""
    out: list[Segment] = []
    latest: dict[str, int] = {}  # speaker -> index in `out` of their latest speech
    for s in sorted(segments, key=lambda s: (s.start, s.end)):
        if s.event == "speech" and s.speaker is not None:
            k = latest.get(s.speaker)
            if k is not None and s.start < out[k].end:
                cut = round((s.start + out[k].end) / 2, 3)
                if out[k].start < cut < s.end:
                    out[k] = out[k].model_copy(update={"end": cut})
                    s = s.model_copy(update={"start": cut})
                else:
                    s = s.model_copy(update={"speaker": None})
            if s.speaker is not None:
                latest[s.speaker] = len(out)
        out.append(s)
    return tuple(sorted(out, key=lambda s: s.start))


def _pairwise_wer(
    agreed: Sequence[Cluster], versions: Sequence[Sequence[Segment]], words: _Words
) -> dict[tuple[int, int], float]:
    """Per pair of annotators, over the agreed speech clusters both are in: edits pooled over
    words, the mean of the two directions."""
    totals: dict[tuple[int, int], list[int]] = {}  # edits, words of i, words of j
    for cluster in agreed:
        members = sorted(cluster.members.items())
        if versions[members[0][0]][members[0][1]].event != "speech":
            continue
        for x, (i, p) in enumerate(members):
            for j, q in members[x + 1 :]:
                total = totals.setdefault((i, j), [0, 0, 0])
                total[0] += words.edits(i, p, j, q)
                total[1] += words.count[i][p]
                total[2] += words.count[j][q]
    return {
        pair: (_rate(edits, mine, theirs) + _rate(edits, theirs, mine)) / 2
        for pair, (edits, mine, theirs) in totals.items()
    }


def speech_consensus(
    versions: Sequence[Transcript],
    part: tuple[float, float],
    match_threshold: float,
    min_agreement: float,
    max_wer: float,
) -> SpeechConsensus:
    """Agreement between annotators' transcripts of one part (`part`: its start and end, in
    seconds of the recording), and the merged transcript. Merged segments are named
    `c<part start in ms>-<n>`: unique within the recording, whichever part they come from."""
    if not versions:
        raise ValueError("consensus needs at least one transcript")
    segments = [list(v.segments) for v in versions]
    words = _Words(segments)
    counts = [len(own) for own in segments]
    agreed = agreed_clusters(counts, _pairs(segments, words, match_threshold), None)
    first_ms = round(part[0] * 1000)
    merged_segments = [
        _merge(cluster, segments, words, part, f"c{first_ms}-{n}")
        for n, cluster in enumerate(agreed, start=1)
    ]
    merged = Transcript(segments=_settle(merged_segments))
    share = shares(agreed, counts)
    pairwise = _pairwise_wer(agreed, segments, words)
    text_wer = statistics.fmean(pairwise.values()) if pairwise else 0.0
    return SpeechConsensus(
        accepted=share.agreement >= min_agreement and text_wer <= max_wer,
        merged=merged,
        agreement=share.agreement,
        per_annotator=tuple(transcript_score(v, merged, match_threshold) for v in versions),
        agreed_segments=len(agreed),
        disputed_segments=share.disputed,
        text_wer=text_wer,
        pairwise_wer=pairwise,
    )


def transcript_score(submitted: Transcript, answer: Transcript, match_threshold: float) -> float:
    """How well a submission matches a known answer (a gold part) or the settled transcript (a
    correction, a dispute): a soft F1. Segments are matched one to one (same event class, IoU
    at the threshold or above, best first); a speech match counts 1 - min(1, WER) of the
    submitted words against the answer's, any other match 1. Both empty: 1.0."""
    if not answer.segments and not submitted.segments:
        return 1.0
    versions = [list(answer.segments), list(submitted.segments)]
    words = _Words(versions)
    matched = 0.0
    for cluster in join_pairs(_pairs(versions, words, match_threshold)):
        p, q = cluster.members[0], cluster.members[1]
        if versions[0][p].event == "speech":
            matched += 1 - min(1.0, words.wer(0, p, 1, q))
        else:
            matched += 1.0
    precision = matched / len(submitted.segments) if submitted.segments else 0.0
    recall = matched / len(answer.segments) if answer.segments else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0
