"""How long review's speech consensus (services/review/speech_consensus.py) takes on one part:
three annotators' transcripts of a 30 s part, about 80 words each in 6 segments of two
speakers, each annotator's boundaries jittered by up to 150 ms and a few words misheard,
dropped or added. Goal: `speech_consensus_ms` (the median of many calls) 5 ms or less.

    .venv/bin/python -m aviary_devkit.bench.speech_consensus_bench [--calls 300]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

from aviary.contracts.speech import Segment, Transcript
from services.review.speech_consensus import speech_consensus

PART = (60.0, 90.0)  # a part in the middle of its recording
ANNOTATORS, SEGMENTS, WORDS_PER_SEGMENT = 3, 6, 13
_SPOKEN = (
    "so the thing is we shipped the new build on monday and it broke the login page for about "
    "an hour which nobody noticed until support started getting calls then we rolled back "
    "fixed the cookie path and pushed again tuesday morning, it's fine now but I'd like a test "
    "for it. Right? Okay: Let's also check the mobile app because it shares that code."
)
VOCABULARY = tuple(_SPOKEN.split())


def truth(rng: random.Random) -> list[tuple[float, float, str, str]]:
    """(start, end, text, speaker) of the part as said."""
    step = (PART[1] - PART[0]) / SEGMENTS
    return [
        (
            PART[0] + n * step + 0.2,
            PART[0] + (n + 1) * step - 0.3,
            " ".join(rng.choices(VOCABULARY, k=WORDS_PER_SEGMENT)),
            ("ana", "ben")[n % 2],
        )
        for n in range(SEGMENTS)
    ]


def heard(text: str, rng: random.Random, errors: int) -> str:
    """`text` with `errors` word mistakes: a substitution, a deletion or an insertion."""
    words = text.split()
    for _ in range(errors):
        at = rng.randrange(len(words))
        kind = rng.choice(("substitute", "delete", "insert"))
        if kind == "substitute":
            words[at] = rng.choice(VOCABULARY)
        elif kind == "delete" and len(words) > 1:
            del words[at]
        else:
            words.insert(at, rng.choice(VOCABULARY))
    return " ".join(words)


def versions(seed: int = 0) -> list[Transcript]:
    rng = random.Random(seed)
    said = truth(rng)
    out = []
    for annotator in range(ANNOTATORS):
        segments = []
        for n, (start, end, text, speaker) in enumerate(said):
            errors = rng.choice((0, 0, 1, 2)) if annotator else 0
            segments.append(
                Segment(
                    segment_id=f"a{annotator}-{n}",
                    start=round(max(PART[0], start + rng.uniform(-0.15, 0.15)), 3),
                    end=round(min(PART[1], end + rng.uniform(-0.15, 0.15)), 3),
                    text=heard(text, rng, errors),
                    speaker=speaker,
                    language="en",
                )
            )
        out.append(Transcript(segments=tuple(segments)))
    return out


def measure(calls: int = 300) -> dict[str, float]:
    """`speech_consensus_ms`: the median milliseconds of one consensus over the three."""
    three = versions()
    result = speech_consensus(three, PART, match_threshold=0.5, min_agreement=0.8, max_wer=0.15)
    assert result.agreed_segments == SEGMENTS, result.agreed_segments  # what was measured
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        speech_consensus(three, PART, match_threshold=0.5, min_agreement=0.8, max_wer=0.15)
        times.append(time.perf_counter() - started)
    return {
        "speech_consensus_ms": 1000 * statistics.median(times),
        "speech_consensus_p90_ms": 1000 * statistics.quantiles(times, n=10)[-1],
        "speech_consensus_words": float(sum(len(v.text.split()) for v in three) / len(three)),
        "speech_consensus_text_wer": result.text_wer,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="calls to take the median of")
    args = parser.parse_args()
    print(json.dumps({k: round(v, 3) for k, v in measure(args.calls).items()}, indent=2))


if __name__ == "__main__":
    main()
