"""Review's consensus over speech (services/review/speech_consensus.py): matching segments in
time, comparing their words, merging, and scoring a transcript against an answer."""

from __future__ import annotations

import random
from typing import Any

import pytest

from aviary.contracts.speech import Segment, Transcript
from services.review.speech_consensus import (
    normalise_text,
    segment_iou,
    speech_consensus,
    text_errors,
    transcript_score,
    word_diff,
)

PART = (10.0, 40.0)


def seg(
    start: float, end: float, text: str = "", speaker: str | None = "ana", **more: Any
) -> Segment:
    return Segment(
        segment_id=more.pop("segment_id", f"s{start}"),
        start=start,
        end=end,
        text=text,
        speaker=speaker if more.get("event", "speech") == "speech" else None,
        **more,
    )


def transcript(*segments: Segment) -> Transcript:
    return Transcript(segments=segments)


def consensus(*versions: Transcript, max_wer: float = 0.15, threshold: float = 0.5) -> Any:
    return speech_consensus(
        list(versions), PART, match_threshold=threshold, min_agreement=0.8, max_wer=max_wer
    )


SAID = (
    (11.0, 14.0, "Turn the lights on, please.", "ana"),
    (15.0, 19.5, "Which lights? The kitchen ones?", "ben"),
    (20.0, 23.0, "Yes, all of them.", "ana"),
)


def version(jitter: float = 0.0, **texts: str) -> Transcript:
    """The part as said, boundaries moved by `jitter` and segment texts replaced by `texts`
    (keyed s0, s1, s2)."""
    return transcript(
        *(
            seg(start + jitter, end - jitter, texts.get(f"s{n}", text), speaker)
            for n, (start, end, text, speaker) in enumerate(SAID)
        )
    )


# ----- text ------------------------------------------------------------------------------


def test_normalise_text_folds_case_punctuation_and_whitespace() -> None:
    assert normalise_text("  Hello,   WORLD!\n") == "hello world"
    assert normalise_text("don't — well-known") == "dont well known"
    assert normalise_text("\uff26\uff55\uff4c\uff4c width; cafe\u0301") == "full width café"
    assert normalise_text("...") == ""


def test_text_errors_on_known_strings() -> None:
    assert text_errors("The cat sat.", "the cat sat") == (0.0, 0.0)
    wer, cer = text_errors("the cat sat", "the cat sat on")
    assert wer == pytest.approx(1 / 3) and cer == pytest.approx(3 / 11)
    wer, cer = text_errors("the cat sat on the mat", "the bat sat on mat")
    assert wer == pytest.approx(2 / 6)  # a substitution and a deletion
    assert cer == pytest.approx(5 / 22)  # c->b, and "the " gone
    assert text_errors("one two", "") == (1.0, 1.0)
    assert text_errors("a b", "a b c d e f") == pytest.approx((2.0, 8 / 3))  # insertions: > 1


def test_text_errors_against_an_empty_reference() -> None:
    assert text_errors("", "") == (0.0, 0.0)
    assert text_errors("?!", "  ") == (0.0, 0.0)  # nothing said either way once normalised
    assert text_errors("", "something") == (1.0, 1.0)


def test_word_diff_gives_the_ops_with_their_words() -> None:
    assert word_diff("Turn the lights on.", "turn the light on please") == [
        {"op": "equal", "ref": ["turn", "the"], "hyp": ["turn", "the"]},
        {"op": "substitute", "ref": ["lights"], "hyp": ["light"]},
        {"op": "equal", "ref": ["on"], "hyp": ["on"]},
        {"op": "insert", "ref": [], "hyp": ["please"]},
    ]
    assert word_diff("a b c", "a c") == [
        {"op": "equal", "ref": ["a"], "hyp": ["a"]},
        {"op": "delete", "ref": ["b"], "hyp": []},
        {"op": "equal", "ref": ["c"], "hyp": ["c"]},
    ]
    assert word_diff("", "") == []
    assert word_diff("", "new words") == [{"op": "insert", "ref": [], "hyp": ["new", "words"]}]
    assert word_diff("old", "") == [{"op": "delete", "ref": ["old"], "hyp": []}]


# ----- time ------------------------------------------------------------------------------


def test_segment_iou() -> None:
    assert segment_iou(seg(0, 2), seg(0, 2)) == 1.0
    assert segment_iou(seg(0, 2), seg(1, 3)) == pytest.approx(1 / 3)
    assert segment_iou(seg(0, 1), seg(1, 2)) == 0.0
    assert segment_iou(seg(0, 1), seg(5, 6)) == 0.0
    assert segment_iou(seg(0, 4), seg(1, 2)) == pytest.approx(1 / 4)


# ----- consensus -------------------------------------------------------------------------


def test_agreeing_transcripts_are_accepted() -> None:
    result = consensus(
        version(),
        version(0.1, s0="turn the lights on please"),  # case and punctuation do not count
        version(-0.05),
    )
    assert result.accepted
    assert result.agreement == 1.0 and result.agreed_segments == 3
    assert result.text_wer == 0.0
    assert result.pairwise_wer == {(0, 1): 0.0, (0, 2): 0.0, (1, 2): 0.0}
    assert [s.text for s in result.merged.segments] == [text for *_, text, _ in SAID]
    assert [(s.start, s.end) for s in result.merged.segments] == [(s, e) for s, e, *_ in SAID]
    assert [s.speaker for s in result.merged.segments] == ["ana", "ben", "ana"]
    assert result.per_annotator == (1.0, 1.0, 1.0)
    assert len({s.segment_id for s in result.merged.segments}) == 3
    assert all(s.segment_id.startswith("c10000-") for s in result.merged.segments)


def test_one_annotators_errors_leave_the_majoritys_text() -> None:
    wrong = "Which lights the kitten once"
    result = consensus(version(), version(s1=wrong), version(0.1), max_wer=0.5)
    assert result.accepted  # the words differ, within what the project allows
    assert result.merged.segments[1].text == SAID[1][2]
    assert result.per_annotator[1] < result.per_annotator[0] == 1.0
    assert result.pairwise_wer[(0, 2)] == 0.0
    assert result.pairwise_wer[(0, 1)] > 0 and result.pairwise_wer[(1, 2)] > 0


def test_speaker_is_voted_and_text_is_the_medoids() -> None:
    result = consensus(
        transcript(seg(11, 14, "one two three four", speaker="ben")),
        transcript(seg(11, 14, "one two three five", speaker="ana")),
        transcript(seg(11, 14, "one two three six", speaker="ana")),
        max_wer=1.0,
    )
    (merged,) = result.merged.segments
    assert merged.speaker == "ana"  # two against one
    assert merged.text == "one two three four"  # a three-way tie: the first annotator's


def test_boundaries_jittered_within_the_threshold_still_match() -> None:
    assert consensus(version(), version(0.4), version(-0.3)).agreement == 1.0
    # Moved far enough, the segments no longer match: nothing is agreed.
    apart = transcript(*(seg(s + 2.5, e + 2.5, t, sp) for s, e, t, sp in SAID[:1]))
    result = consensus(transcript(seg(11, 14, "x")), apart, threshold=0.5)
    assert result.agreed_segments == 0 and not result.accepted


def test_a_segment_one_annotator_missed_is_kept_by_the_others() -> None:
    missing = transcript(*version().segments[:2])
    result = consensus(version(), version(0.1), missing)
    assert result.agreed_segments == 3
    assert result.agreement == 1.0  # every segment drawn is in an agreed cluster
    assert [s.text for s in result.merged.segments] == [text for *_, text, _ in SAID]
    assert result.per_annotator[2] == pytest.approx(0.8)  # precision 1, recall 2/3
    # A segment only one annotator made is not agreed.
    extra = transcript(*version().segments, seg(30, 32, "did anyone hear that"))
    result = consensus(extra, version(), version())
    assert result.agreed_segments == 3 and result.disputed_segments == 1
    assert result.agreement == pytest.approx(9 / 10)


def test_disagreement_is_not_accepted() -> None:
    words = consensus(
        version(),
        version(s0="burn the lights down", s1="which nights the kitten ones"),
        version(s0="turn the light off", s2="yes all of it"),
    )
    assert words.agreement == 1.0 and words.text_wer > 0.15 and not words.accepted
    times = consensus(
        version(),
        transcript(seg(11, 12.2, "turn the lights"), seg(12.2, 14, "on please")),
        transcript(seg(24, 30, "no")),
    )
    assert times.agreement < 0.8 and not times.accepted


def test_overlapping_speakers_pair_with_their_own_words() -> None:
    def both(jitter: float) -> Transcript:
        return transcript(
            seg(11, 15, "are you coming tonight", "ana", segment_id="a"),
            seg(11.5 + jitter, 15, "I think so yes", "ben", segment_id="b"),
        )

    result = consensus(both(0), both(0.2), both(-0.2))
    assert result.accepted
    assert [(s.speaker, s.text) for s in result.merged.segments] == [
        ("ana", "are you coming tonight"),
        ("ben", "I think so yes"),
    ]


def test_non_speech_events_match_only_their_own_class() -> None:
    noise = transcript(seg(11, 13, event="noise"), seg(20, 22, event="music"))
    music = transcript(seg(11, 13, event="music"), seg(20, 22, event="music"))
    result = consensus(noise, music, music)
    assert [s.event for s in result.merged.segments] == ["music", "music"]
    assert result.agreed_segments == 2 and result.disputed_segments == 1


def test_merged_segments_of_one_speaker_never_overlap() -> None:
    # X agreed by 0 and 1, Y by 1 and 2: the medians (X ends 12.5, Y starts 11.5) overlap.
    result = consensus(
        transcript(seg(10, 13, "x")),
        transcript(seg(10, 12, "x"), seg(12, 15, "y")),
        transcript(seg(11, 15, "y")),
    )
    assert [(s.start, s.end, s.text) for s in result.merged.segments] == [
        (10, 12, "x"),
        (12, 15, "y"),
    ]


def test_any_versions_give_a_valid_merged_transcript() -> None:
    rng = random.Random(7)
    for _ in range(200):
        versions = []
        for _ in range(rng.randint(1, 4)):
            at, segments = PART[0], list[Segment]()
            while (at := at + rng.uniform(0.0, 2.0)) < PART[1] - 1 and len(segments) < 8:
                end = min(PART[1], at + rng.uniform(0.2, 4))
                event = rng.choice(("speech", "speech", "noise"))
                speaker = rng.choice(("ana", "ben", None)) if event == "speech" else None
                if speaker and any(
                    s.speaker == speaker and s.end > at for s in segments
                ):  # the contract: one speaker's segments do not overlap
                    speaker = None
                text = (
                    " ".join(rng.choices("abcdef", k=rng.randint(0, 4)))
                    if event == "speech"
                    else ""
                )
                segments.append(
                    seg(
                        round(at, 3),
                        round(end, 3),
                        text,
                        speaker,
                        event=event,
                        segment_id=f"s{len(segments)}",
                    )
                )
            versions.append(transcript(*segments))
        result = consensus(*versions, threshold=rng.choice((0.1, 0.5, 0.9)))
        assert 0 <= result.agreement <= 1
        assert all(0 <= x <= 1 for x in result.per_annotator)
        assert all(PART[0] <= s.start < s.end <= PART[1] + 0.001 for s in result.merged.segments)


def test_one_version_or_none_at_all() -> None:
    alone = consensus(version())
    assert alone.accepted and alone.agreement == 1.0 and alone.pairwise_wer == {}
    assert [s.text for s in alone.merged.segments] == [text for *_, text, _ in SAID]
    silence = consensus(transcript(), transcript())
    assert silence.accepted and silence.merged.segments == () and silence.per_annotator == (1, 1)
    with pytest.raises(ValueError, match="at least one"):
        consensus()


# ----- scoring against an answer --------------------------------------------------------


def test_transcript_score_edge_cases() -> None:
    answer = version()
    assert transcript_score(transcript(), transcript(), 0.5) == 1.0
    assert transcript_score(transcript(), answer, 0.5) == 0.0
    assert transcript_score(answer, transcript(), 0.5) == 0.0
    assert transcript_score(version(0.2), answer, 0.5) == 1.0
    # Half the words of one segment of three wrong: that match counts half.
    half = version(s0="turn the nights off please now")  # 2 substitutions + 1 insertion of 5
    assert transcript_score(half, answer, 0.5) == pytest.approx((2 + 0.4) / 3)
    # Every word wrong: the segment matches in time and earns nothing.
    wrong = version(s2="no thank you")
    assert transcript_score(wrong, answer, 0.5) == pytest.approx(2 / 3)
    # An extra segment costs precision; a missing one, recall.
    extra = transcript(*answer.segments, seg(30, 31, "hm", "ben"))
    assert transcript_score(extra, answer, 0.5) == pytest.approx(2 * 0.75 * 1 / 1.75)
    # Out of time or of another event class, nothing matches.
    late = transcript(*(seg(s + 3, e + 3, t, sp) for s, e, t, sp in SAID))
    assert transcript_score(late, answer, 0.5) == 0.0
    noise = transcript(seg(11, 14, event="noise"))
    assert transcript_score(noise, transcript(seg(11, 14, event="music")), 0.5) == 0.0
    assert transcript_score(noise, noise, 0.5) == 1.0
