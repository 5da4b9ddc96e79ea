"""Where a long recording is cut into parts, one task each: at silences between the speech
voice-activity detection found (vad.py), so that no one gets a sentence cut in two."""

from __future__ import annotations

from collections.abc import Iterator


def plan_parts(
    duration_s: float, speech: list[tuple[float, float]], max_part_s: float
) -> tuple[tuple[int, int], ...]:
    """Cut a recording into parts of at most `max_part_s`: (start, stop) in milliseconds,
    contiguous, from 0 to the duration.

    Each cut is in the middle of the longest silence in the window it ends, preferring
    silences after half of `max_part_s` (so parts are not short); with no silence in the
    window, the cut is at `max_part_s`, through speech. Silences are the gaps between `speech`
    segments and, when there is any speech, before the first and after the last one; with no
    speech segments at all (no detection ran, or none found) every cut is at `max_part_s`.
    """
    total = max(0, round(duration_s * 1000))
    longest = int(max_part_s * 1000)
    if longest <= 0:
        raise ValueError("parts need a positive length")
    silences = list(_silences(total, speech))
    parts: list[tuple[int, int]] = []
    start = 0
    while total - start > longest:
        end = start + longest
        cut = _cut_in(silences, start, start + longest // 2, end) or _cut_in(
            silences, start, start, end
        )
        cut = cut or end
        parts.append((start, cut))
        start = cut
    parts.append((start, total))
    return tuple(parts)


def _silences(total_ms: int, speech: list[tuple[float, float]]) -> Iterator[tuple[int, int]]:
    """The gaps between speech segments in milliseconds, sorted (segments may overlap)."""
    if not speech:
        return
    at = 0
    for start_s, end_s in sorted(speech):
        start = min(total_ms, max(0, round(start_s * 1000)))
        if start > at:
            yield at, start
        at = max(at, min(total_ms, round(end_s * 1000)))
    if at < total_ms:
        yield at, total_ms


def _cut_in(silences: list[tuple[int, int]], part_start: int, low: int, high: int) -> int | None:
    """The middle of the longest silence within [low, high] (of its part there), if any.
    Silences that begin where the part does are not candidates: the part began by cutting in
    one (or the recording begins with one), and cutting in it again makes a part of silence."""
    best: tuple[int, int] | None = None
    for start, end in silences:
        if start <= part_start or end <= low or start >= high:
            continue
        clipped = (max(start, low), min(end, high))
        if best is None or clipped[1] - clipped[0] > best[1] - best[0]:
            best = clipped
    if best is None:
        return None
    return max(low, min(high, (best[0] + best[1]) // 2))
