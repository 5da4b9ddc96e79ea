"""Consensus across overlaps: match the annotators' shapes, measure agreement, merge.

Shapes are matched per class between annotators: IoU for boxes, polygons and masks (pixel by
pixel, on the run lengths), a distance (relative to the image diagonal) for polylines and
keypoints, equality for image-level classes. Matches above the threshold join clusters greedily,
best first, at most one shape per annotator in a cluster. A cluster drawn by a majority of
annotators is agreed and merged into the final annotation (boxes and keypoints averaged,
outlines and masks by their medoid, attributes by vote); shapes outside any agreed cluster
count as disagreement.

A merged shape keeps its `source`: a medoid's own; an average of shapes that all came the same
way, that way; an average of a model's proposal with other shapes, edited (`model_edited`).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from shapely.geometry import LineString, Point, Polygon
from shapely.validation import make_valid

from aviary.contracts.shapes import (
    Annotation,
    BoxShape,
    KeypointsShape,
    MaskShape,
    PolygonShape,
    PolylineShape,
    Shape,
    ShapeSource,
)
from shared.domain import masks
from shared.domain.geometry import iou as box_iou

# Distances are judged against this share of the image diagonal (polylines, keypoints).
DISTANCE_TOLERANCE = 0.02


@dataclass(frozen=True)
class Consensus:
    merged: Annotation
    agreement: float  # shapes in agreed clusters / all shapes (1.0 when nobody drew anything)
    per_annotator: tuple[float, ...]  # each annotator's share of shapes that others agreed on
    agreed_clusters: int
    disputed_shapes: int

    def accepted(self, min_agreement: float) -> bool:
        return self.agreement >= min_agreement


# ----- similarity of two shapes of one class ---------------------------------------------


def box_iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in `a` (n x 4, x y w h) with every box in `b` (m x 4)."""
    ax1, ay1 = a[:, 0:1], a[:, 1:2]
    ax2, ay2 = ax1 + a[:, 2:3], ay1 + a[:, 3:4]
    bx1, by1 = b[:, 0], b[:, 1]
    bx2, by2 = bx1 + b[:, 2], by1 + b[:, 3]
    iw = np.clip(np.minimum(ax2, bx2) - np.maximum(ax1, bx1), 0, None)
    ih = np.clip(np.minimum(ay2, by2) - np.maximum(ay1, by1), 0, None)
    inter = iw * ih
    union = (a[:, 2:3] * a[:, 3:4]) + (b[:, 2] * b[:, 3]) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    return np.asarray(iou)


def _polygon(shape: PolygonShape) -> Any:
    poly = Polygon(shape.points)
    return poly if poly.is_valid else make_valid(poly)


def turned_box_iou(a: BoxShape, b: BoxShape) -> float:
    """IoU of two boxes of which one at least turns: of their outlines."""
    pa, pb = Polygon(a.corners()), Polygon(b.corners())
    union = pa.union(pb).area
    return float(pa.intersection(pb).area / union) if union > 0 else 0.0


def _turned(shape: Shape) -> bool:
    return isinstance(shape, BoxShape) and shape.rotation != 0


def polygon_iou(a: PolygonShape, b: PolygonShape) -> float:
    pa, pb = _polygon(a), _polygon(b)
    union = pa.union(pb).area
    return float(pa.intersection(pb).area / union) if union > 0 else 0.0


def mask_similarity(a: MaskShape, b: MaskShape) -> float:
    """Mask IoU; 0 for masks of two sizes or counts that are no mask (validation refuses
    both, so neither comes from one image's submissions)."""
    if tuple(a.rle.size) != tuple(b.rle.size):
        return 0.0
    try:
        return masks.mask_iou(a.rle, b.rle)
    except masks.RleError:
        return 0.0


def _closeness(distance: float, diagonal: float) -> float:
    """1 when equal, falling linearly to 0 at the tolerance."""
    return max(0.0, 1.0 - distance / (DISTANCE_TOLERANCE * diagonal))


def polyline_similarity(a: PolylineShape, b: PolylineShape, diagonal: float) -> float:
    """From the mean distance of each line's points to the other line, both ways."""
    pa, pb = a.line(), b.line()  # smooth lines: their curves
    la, lb = LineString(pa), LineString(pb)
    ab = sum(lb.distance(Point(p)) for p in pa) / len(pa)
    ba = sum(la.distance(Point(p)) for p in pb) / len(pb)
    return _closeness((ab + ba) / 2, diagonal)


def keypoints_similarity(a: KeypointsShape, b: KeypointsShape, diagonal: float) -> float:
    """Mean closeness over the skeleton; a point labeled by one and not the other scores 0."""
    if len(a.keypoints) != len(b.keypoints):
        return 0.0
    scores = []
    for (ax, ay, av), (bx, by, bv) in zip(a.keypoints, b.keypoints, strict=True):
        if av == 0 and bv == 0:
            continue
        if av == 0 or bv == 0:
            scores.append(0.0)
            continue
        scores.append(_closeness(math.dist((ax, ay), (bx, by)), diagonal))
    return sum(scores) / len(scores) if scores else 1.0


def similarity(a: Shape, b: Shape, diagonal: float) -> float:
    if a.class_id != b.class_id or a.kind != b.kind:
        return 0.0
    if isinstance(a, BoxShape) and isinstance(b, BoxShape):
        return turned_box_iou(a, b) if a.rotation or b.rotation else box_iou(a.bbox, b.bbox)
    if isinstance(a, PolygonShape) and isinstance(b, PolygonShape):
        return polygon_iou(a, b)
    if isinstance(a, MaskShape) and isinstance(b, MaskShape):
        return mask_similarity(a, b)
    if isinstance(a, PolylineShape) and isinstance(b, PolylineShape):
        return polyline_similarity(a, b, diagonal)
    if isinstance(a, KeypointsShape) and isinstance(b, KeypointsShape):
        return keypoints_similarity(a, b, diagonal)
    return 1.0  # the same image-level class


# ----- clustering ------------------------------------------------------------------------


@dataclass
class Cluster:
    members: dict[int, int]  # annotator -> index of the shape in that annotator's list


def _pair_scores(
    shapes: list[list[Shape]], keys: list[list[tuple[int, str]]], diagonal: float
) -> list[tuple[float, int, int, int, int]]:
    """(similarity, annotator i, shape p, annotator j, shape q) for comparable pairs."""
    pairs: list[tuple[float, int, int, int, int]] = []
    for i in range(len(shapes)):
        for j in range(i + 1, len(shapes)):
            by_key: dict[tuple[int, str], list[int]] = defaultdict(list)
            for q, key in enumerate(keys[j]):
                by_key[key].append(q)
            # Boxes that do not turn are compared all at once (the matrix below).
            boxes_i = [
                p for p, k in enumerate(keys[i]) if k[1] == "bbox" and not _turned(shapes[i][p])
            ]
            for p, key in enumerate(keys[i]):
                for q in by_key.get(key, ()):
                    if key[1] == "bbox" and not (_turned(shapes[i][p]) or _turned(shapes[j][q])):
                        continue
                    pairs.append((similarity(shapes[i][p], shapes[j][q], diagonal), i, p, j, q))
            if boxes_i:
                pairs.extend(_box_pairs(shapes, keys, i, j, boxes_i))
    return pairs


def _bbox(shape: Shape) -> tuple[float, float, float, float]:
    assert isinstance(shape, BoxShape)
    return shape.bbox


def _box_pairs(
    shapes: list[list[Shape]], keys: list[list[tuple[int, str]]], i: int, j: int, boxes_i: list[int]
) -> list[tuple[float, int, int, int, int]]:
    boxes_j = [q for q, k in enumerate(keys[j]) if k[1] == "bbox" and not _turned(shapes[j][q])]
    if not boxes_j:
        return []
    a = np.array([_bbox(shapes[i][p]) for p in boxes_i], dtype=np.float64)
    b = np.array([_bbox(shapes[j][q]) for q in boxes_j], dtype=np.float64)
    iou = box_iou_matrix(a, b)
    same_class = np.array([keys[i][p][0] for p in boxes_i])[:, None] == np.array(
        [keys[j][q][0] for q in boxes_j]
    )
    iou = np.where(same_class, iou, 0.0)
    rows, cols = np.nonzero(iou > 0)
    return [
        (float(iou[r, c]), i, boxes_i[r], j, boxes_j[c]) for r, c in zip(rows, cols, strict=True)
    ]


def _pairs(
    shapes: list[list[Shape]], threshold: float, diagonal: float
) -> Iterator[tuple[float, int, int, int, int]]:
    keys: list[list[tuple[int, str]]] = [[(s.class_id, s.kind) for s in own] for own in shapes]
    return (p for p in _pair_scores(shapes, keys, diagonal) if p[0] >= threshold)


def join_pairs(pairs: Iterable[tuple[float, int, int, int, int]]) -> list[Cluster]:
    """Clusters from matched pairs (similarity, annotator i, own index p, annotator j, own
    index q), best first, greedily: at most one member per annotator in a cluster."""
    cluster_of: dict[tuple[int, int], Cluster] = {}
    for _, i, p, j, q in sorted(pairs, key=lambda p: -p[0]):
        ci, cj = cluster_of.get((i, p)), cluster_of.get((j, q))
        if ci is None and cj is None:
            cluster = Cluster({i: p, j: q})
            cluster_of[(i, p)] = cluster_of[(j, q)] = cluster
        elif ci is not None and cj is None:
            if j not in ci.members:
                ci.members[j] = q
                cluster_of[(j, q)] = ci
        elif ci is None and cj is not None:
            if i not in cj.members:
                cj.members[i] = p
                cluster_of[(i, p)] = cj
        elif (
            ci is not None
            and cj is not None
            and ci is not cj
            and not set(ci.members) & set(cj.members)  # one shape per annotator per cluster
        ):
            ci.members.update(cj.members)
            for annotator, index in cj.members.items():
                cluster_of[(annotator, index)] = ci
    unique = {id(c): c for c in cluster_of.values()}
    return list(unique.values())


def agreed_clusters(
    counts: Sequence[int], pairs: Iterable[tuple[float, int, int, int, int]], quorum: int | None
) -> list[Cluster]:
    """The clusters of matched pairs drawn by at least `quorum` of the annotators (default:
    a majority), who drew `counts` things each; one annotator agrees with themselves."""
    if len(counts) == 1:
        return [Cluster({0: p}) for p in range(counts[0])]
    need = quorum if quorum is not None else len(counts) // 2 + 1
    return [c for c in join_pairs(pairs) if len(c.members) >= need]


@dataclass(frozen=True)
class Shares:
    agreement: float  # things in agreed clusters / all things (1.0 when nobody drew any)
    per_annotator: tuple[float, ...]  # each annotator's share of things others agreed on
    disputed: int  # things outside every agreed cluster


def shares(agreed: Sequence[Cluster], counts: Sequence[int]) -> Shares:
    """How much of what the annotators drew (`counts` each) the agreed clusters hold."""
    in_agreement = [0] * len(counts)
    for cluster in agreed:
        for annotator in cluster.members:
            in_agreement[annotator] += 1
    total, agreeing = sum(counts), sum(in_agreement)
    return Shares(
        agreement=agreeing / total if total else 1.0,
        per_annotator=tuple(
            mine / count if count else 1.0 for mine, count in zip(in_agreement, counts, strict=True)
        ),
        disputed=total - agreeing,
    )


# ----- merging ---------------------------------------------------------------------------


def _vote_attributes(members: list[Shape], fallback: Shape) -> dict[str, Any]:
    names = {name for s in members for name in s.attributes}
    voted: dict[str, Any] = {}
    for name in sorted(names):
        counts = Counter(repr(s.attributes[name]) for s in members if name in s.attributes)
        best, n = counts.most_common(1)[0]
        tied = [v for v, c in counts.items() if c == n]
        chosen = repr(fallback.attributes.get(name)) if len(tied) > 1 else best
        voted[name] = next(
            s.attributes[name] for s in members if repr(s.attributes.get(name)) == chosen
        )
    return voted


def _medoid(members: list[Shape], diagonal: float) -> Shape:
    if len(members) <= 2:
        return members[0]
    return max(
        members,
        key=lambda s: sum(similarity(s, other, diagonal) for other in members if other is not s),
    )


def _averaged_source(members: list[Shape], medoid: Shape) -> ShapeSource | None:
    """Where an average came from: the members' common source, or a model's proposal edited
    (the medoid's model first) when they differ and one of them names a model."""
    sources = [s.source for s in members]
    if all(source == sources[0] for source in sources):
        return sources[0]
    named = [s.source.model for s in (medoid, *members) if s.source and s.source.model]
    return ShapeSource(by="model_edited", model=named[0]) if named else None


def _mean_rotation(members: list[Shape]) -> float:
    """The boxes' mean turn, on the circle (350° and 10° average to 0°, not 180°)."""
    angles = [math.radians(s.rotation) for s in members if isinstance(s, BoxShape)]
    if not any(angles):
        return 0.0
    mean = math.degrees(math.atan2(sum(map(math.sin, angles)), sum(map(math.cos, angles))))
    return round(mean % 360, 2) % 360


def _merge(members: list[Shape], diagonal: float) -> Shape:
    medoid = _medoid(members, diagonal)
    attributes = _vote_attributes(members, medoid)
    first = members[0]
    source = _averaged_source(members, medoid)
    if isinstance(first, BoxShape):
        coords = np.mean([_bbox(s) for s in members], axis=0)
        return BoxShape(
            rotation=_mean_rotation(members),
            class_id=first.class_id,
            bbox=(
                round(float(coords[0]), 2),
                round(float(coords[1]), 2),
                round(float(coords[2]), 2),
                round(float(coords[3]), 2),
            ),
            attributes=attributes,
            source=source,
        )
    if isinstance(first, KeypointsShape):
        merged = []
        for points in zip(*(s.keypoints for s in members), strict=True):  # type: ignore[union-attr]
            labeled = [p for p in points if p[2] > 0]
            if not labeled:
                merged.append((0.0, 0.0, 0))
                continue
            visibility = Counter(p[2] for p in labeled).most_common(1)[0][0]
            merged.append(
                (
                    round(sum(p[0] for p in labeled) / len(labeled), 2),
                    round(sum(p[1] for p in labeled) / len(labeled), 2),
                    visibility,
                )
            )
        return KeypointsShape(
            class_id=first.class_id,
            keypoints=tuple(merged),
            attributes=attributes,
            source=source,
        )
    return medoid.model_copy(update={"attributes": attributes})


def consensus(
    annotations: Sequence[Annotation],
    width: int,
    height: int,
    *,
    threshold: float = 0.5,
    quorum: int | None = None,
) -> Consensus:
    """Agreement between annotators' versions of one image, and the merged annotation.

    `quorum`: how many annotators must agree on a shape (default: a majority)."""
    if not annotations:
        raise ValueError("consensus needs at least one annotation")
    diagonal = math.hypot(width, height)
    shapes = [list(a.shapes) for a in annotations]
    counts = [len(own) for own in shapes]
    agreed = agreed_clusters(counts, _pairs(shapes, threshold, diagonal), quorum)
    merged = [
        _merge([shapes[a][p] for a, p in sorted(cluster.members.items())], diagonal)
        for cluster in agreed
    ]
    share = shares(agreed, counts)
    return Consensus(
        merged=Annotation(shapes=tuple(merged)),
        agreement=share.agreement,
        per_annotator=share.per_annotator,
        agreed_clusters=len(agreed),
        disputed_shapes=share.disputed,
    )


def match_score(answer: Annotation, submitted: Annotation, width: int, height: int) -> float:
    """How well a submission matches a known answer (gold) or the final annotation (after a
    correction): shapes matched both ways, an F1 of precision and recall."""
    if not answer.shapes and not submitted.shapes:
        return 1.0
    result = consensus([answer, submitted], width, height, quorum=2)
    matched = result.agreed_clusters
    precision = matched / len(submitted.shapes) if submitted.shapes else 0.0
    recall = matched / len(answer.shapes) if answer.shapes else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0
