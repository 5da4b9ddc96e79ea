"""Consensus across overlaps of one video clip: match the annotators' tracks, count identity
switches, merge.

Two annotators' tracks of one class and geometry kind match when they agree: their mean box IoU
over the clip's frames where either is present (`shared/domain/tracks.py`) reaches the project's
threshold. Matches join clusters greedily, best first, as shapes do (`consensus.join_pairs`);
a cluster drawn by a majority of annotators is agreed, and its medoid (the member agreeing most
with the others) becomes the merged track: keyframes are a person's choice of where the motion
changes, so they are kept whole rather than averaged.

Identity switches are counted per ordered pair of annotators, the way MOT metrics count them:
frame by frame one annotator's boxes are matched to the other's (IoU at the threshold or above,
best first); a track whose match moves to another of the other's tracks is a switch. Both
directions count: one person's track jumping from one object to another shows from one side,
two people's swapped ids from both. Who is who is what a tracking delivery is for, so a clip
with any switch goes to a human whatever its agreement.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from aviary.contracts.tracks import Track, TrackAnnotation
from services.review.consensus import Cluster, agreed_clusters, join_pairs, shares
from shared.domain.tracks import Box, box_iou, boxes_over, mean_iou


@dataclass(frozen=True)
class TrackConsensus:
    merged: TrackAnnotation
    agreement: float  # tracks in agreed clusters / all tracks (1.0 when nobody drew any)
    per_annotator: tuple[float, ...]  # each annotator's share of tracks that others agreed on
    agreed_tracks: int
    disputed_tracks: int
    identity_switches: int

    def accepted(self, min_agreement: float) -> bool:
        return self.identity_switches == 0 and self.agreement >= min_agreement


Boxes = dict[int, Box | None]


def _kind(track: Track) -> tuple[int, str]:
    return track.class_id, track.kind


def identity_switches(
    mine: Sequence[Track], theirs: Sequence[Track], frames: range, threshold: float = 0.5
) -> int:
    """How often one of `mine` changes which of `theirs` it matches, frame by frame."""
    a = [boxes_over(t, frames) for t in mine]
    b = [boxes_over(t, frames) for t in theirs]
    last: dict[int, int] = {}
    switches = 0
    for frame in frames:
        pairs = sorted(
            (
                (iou, p, q)
                for p, track in enumerate(mine)
                if frame in a[p]
                for q, other in enumerate(theirs)
                if frame in b[q]
                and _kind(track) == _kind(other)
                and (iou := box_iou(a[p][frame], b[q][frame])) >= threshold
            ),
            reverse=True,
        )
        mine_taken: set[int] = set()
        theirs_taken: set[int] = set()
        for _, p, q in pairs:
            if p in mine_taken or q in theirs_taken:
                continue
            mine_taken.add(p)
            theirs_taken.add(q)
            if last.get(p, q) != q:
                switches += 1
            last[p] = q
    return switches


def track_consensus(
    versions: Sequence[TrackAnnotation],
    frames: range,
    *,
    threshold: float = 0.5,
    quorum: int | None = None,
) -> TrackConsensus:
    """Agreement between annotators' tracks of one clip (`frames`), and the merged tracks.

    `quorum`: how many annotators must agree on a track (default: a majority)."""
    n = len(versions)
    if n == 0:
        raise ValueError("consensus needs at least one version")
    tracks = [list(v.tracks) for v in versions]
    boxes = [[boxes_over(t, frames) for t in own] for own in tracks]
    counts = [len(own) for own in tracks]
    agreed = agreed_clusters(counts, _matching_pairs(tracks, boxes, threshold), quorum)
    switches = sum(
        identity_switches(tracks[i], tracks[j], frames, threshold)
        for i in range(n)
        for j in range(n)
        if i != j
    )
    merged = [
        _medoid(cluster, tracks, boxes).model_copy(update={"track_id": str(number)})
        for number, cluster in enumerate(agreed, start=1)
    ]
    share = shares(agreed, counts)
    return TrackConsensus(
        merged=TrackAnnotation(tracks=tuple(merged)),
        agreement=share.agreement,
        per_annotator=share.per_annotator,
        agreed_tracks=len(agreed),
        disputed_tracks=share.disputed,
        identity_switches=switches,
    )


def _matching_pairs(
    tracks: list[list[Track]], boxes: list[list[Boxes]], threshold: float
) -> Iterator[tuple[float, int, int, int, int]]:
    """(agreement, annotator i, track p, annotator j, track q) for tracks that match."""
    n = len(tracks)
    for i in range(n):
        for j in range(i + 1, n):
            for p, mine in enumerate(tracks[i]):
                for q, theirs in enumerate(tracks[j]):
                    if _kind(mine) != _kind(theirs):
                        continue
                    if (score := mean_iou(boxes[i][p], boxes[j][q])) >= threshold:
                        yield score, i, p, j, q


def _medoid(cluster: Cluster, tracks: list[list[Track]], boxes: list[list[Boxes]]) -> Track:
    members = sorted(cluster.members.items())
    if len(members) <= 2:
        a, p = members[0]
        return tracks[a][p]
    best = max(
        members,
        key=lambda m: sum(
            mean_iou(boxes[m[0]][m[1]], boxes[o[0]][o[1]]) for o in members if o != m
        ),
    )
    return tracks[best[0]][best[1]]


def track_match_score(
    answer: TrackAnnotation, submitted: TrackAnnotation, frames: range, threshold: float = 0.5
) -> float:
    """How well a submission's tracks match a known answer (a gold clip) or the settled
    tracks (a dispute): an F1 over tracks matched one to one, each match counting as much as
    its agreement, so a track that follows its object half the clip earns half."""
    if not answer.tracks and not submitted.tracks:
        return 1.0
    tracks = [list(answer.tracks), list(submitted.tracks)]
    boxes = [[boxes_over(t, frames) for t in own] for own in tracks]
    matched = sum(
        mean_iou(boxes[0][c.members[0]], boxes[1][c.members[1]])
        for c in join_pairs(_matching_pairs(tracks, boxes, threshold))
    )
    precision = matched / len(submitted.tracks) if submitted.tracks else 0.0
    recall = matched / len(answer.tracks) if answer.tracks else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0
