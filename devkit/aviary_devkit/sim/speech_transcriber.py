"""A simulated person transcribing one part of a recording, making a person's mistakes.

Review, gold questions and agreement are only tested when transcripts are wrong in the ways
people's are: homophones written for one another (there/their, to/two), short words left
out, an "uh" typed in, boundaries set a little early or late, a speaker mixed up, now and
then a whole segment missed. The person hears the truth (`render_recording`'s), starts from
the part's voice-activity proposals as the labeling tool shows them, and fixes them: moves
their bounds to what they hear (keeping a proposal's id when they do), deletes proposals
over no speech and adds what the detector missed. A `careless` person leaves the proposals
as they are, deletes nothing and hears badly: review should reject their work.

Word error rates the skills give against the truth (`expected_wer`, over SENTENCES, with
`speech_checks.wer`): expert about 1.5%, good about 5.5%, average about 14%, careless about
55%. On a rendered recording they scatter around these by a few points (a dozen sentences).

What lies in a part (`in_part`): a truth segment crossing the part's edge is cut at the
edge; the piece keeps the text only when the segment's midpoint lies in the part (so most
of it does, and of contiguous parts exactly one gets the words), and a piece shorter than
MIN_PIECE_S is left out.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass

from aviary.contracts.speech import Segment, Transcript
from aviary_devkit.media.speech import SENTENCES
from aviary_devkit.sim.speech_checks import wer

MIN_PIECE_S = 0.1  # a cut-off piece shorter than this is not labeled
MIN_SEGMENT_S = 0.05  # nor is a segment that jitter leaves shorter than this

# Words people write for one another: homophones, and near ones in fast speech.
_HOMOPHONES = (
    ("there", "their", "they're"),
    ("to", "two", "too"),
    ("for", "four"),
    ("its", "it's"),
    ("your", "you're"),
    ("right", "write"),
    ("new", "knew"),
    ("by", "buy", "bye"),
    ("hear", "here"),
    ("one", "won"),
    ("no", "know"),
    ("weather", "whether"),
    ("through", "threw"),
    ("break", "brake"),
    ("red", "read"),
    ("blue", "blew"),
    ("past", "passed"),
    ("road", "rode"),
    ("way", "weigh"),
    ("hour", "our"),
    ("which", "witch"),
    ("made", "maid"),
    ("main", "mane"),
    ("whole", "hole"),
    ("lane", "lain"),
)
CONFUSIONS: dict[str, tuple[str, ...]] = {
    word: tuple(w for w in group if w != word) for group in _HOMOPHONES for word in group
}
# What a listener writes for a short word they did not quite catch, and for any other.
_SLIPS = {"in": "on", "on": "in", "a": "the", "the": "a", "and": "an", "an": "and", "at": "that"}
_GUESSES = ("the", "a", "and", "it", "that", "then", "was", "is", "so", "what", "with")
FILLERS = ("uh", "um")
SHORT_WORD = 3  # letters: a word this short is the one most often left out


@dataclass(frozen=True)
class Skill:
    """How often each mistake happens: chances per word, per segment or per proposal."""

    substitute: float  # a word with a homophone is written as that homophone
    mishear: float  # any word is written as a guess
    drop_short: float  # a short word is left out
    drop_any: float  # any word is left out
    filler: float  # a segment gets an "uh" or "um" typed in
    jitter_s: float  # each bound is off by up to this much, either way
    wrong_speaker: float  # a speech segment is given another speaker of the recording
    miss: float  # a segment is not labeled at all
    label_events: float  # a noise or music segment is labeled
    keep_proposals: bool = False  # proposals keep their bounds, and none is deleted


SKILLS: dict[str, Skill] = {
    # substitute, mishear, drop_short, drop_any, filler, jitter_s, wrong_speaker, miss,
    # label_events (Skill's order)
    "expert": Skill(0.08, 0.0, 0.01, 0.0, 0.02, 0.03, 0.0, 0.0, 1.0),
    "good": Skill(0.15, 0.005, 0.03, 0.003, 0.05, 0.08, 0.03, 0.01, 0.9),
    "average": Skill(0.3, 0.03, 0.08, 0.015, 0.12, 0.12, 0.06, 0.02, 0.7),
    "careless": Skill(0.7, 0.2, 0.35, 0.12, 0.5, 0.3, 0.25, 0.15, 0.2, keep_proposals=True),
}


def transcribe(
    part: tuple[float, float],
    proposed: Transcript,
    truth: Transcript,
    skill: str | Skill = "good",
    seed: int = 0,
) -> Transcript:
    """The transcript a person of `skill` submits for the part (start, end) of a recording,
    seconds from its start: every segment inside the part, in order of their start."""
    how = SKILLS[skill] if isinstance(skill, str) else skill
    rng = random.Random(seed)
    start, end = part
    speakers = sorted({s.speaker for s in truth.segments if s.speaker is not None})
    proposals = [p for p in in_part(proposed, start, end).segments if p.event == "speech"]
    taken: set[str] = set()
    labeled: list[Segment] = []
    for n, seg in enumerate(in_part(truth, start, end).segments, start=1):
        if seg.event != "speech" and rng.random() >= how.label_events:
            continue
        if rng.random() < how.miss:
            continue
        match = _best(seg, [p for p in proposals if p.segment_id not in taken])
        if match is not None and how.keep_proposals and seg.event == "speech":
            a, b = match.start, match.end
        else:
            a = seg.start + rng.uniform(-how.jitter_s, how.jitter_s)
            b = seg.end + rng.uniform(-how.jitter_s, how.jitter_s)
        a, b = max(start, a), min(end, b)
        if b - a < MIN_SEGMENT_S:
            continue
        speaker = seg.speaker
        if seg.event == "speech" and len(speakers) > 1 and rng.random() < how.wrong_speaker:
            speaker = rng.choice([s for s in speakers if s != seg.speaker])
        if match is not None and seg.event == "speech":
            taken.add(match.segment_id)
        segment_id = match.segment_id if match is not None and seg.event == "speech" else None
        labeled.append(
            seg.model_copy(
                update={
                    # A new segment's id is unique across the recording's parts.
                    "segment_id": segment_id or f"p{round(start * 1000)}-{n}",
                    "start": a,
                    "end": b,
                    "text": misheard(seg.text, how, rng) if seg.text else "",
                    "speaker": speaker,
                }
            )
        )
    if how.keep_proposals:  # proposals over no speech stay, with no words and no speaker
        labeled += [p for p in proposals if p.segment_id not in taken]
    return Transcript(segments=tuple(_one_at_a_time(labeled)))


def in_part(transcript: Transcript, start: float, end: float) -> Transcript:
    """The segments inside the part, cut at its edges (the rule is in the module's doc)."""
    inside: list[Segment] = []
    for seg in transcript.segments:
        a, b = max(start, seg.start), min(end, seg.end)
        if b - a < min(MIN_PIECE_S, seg.duration):
            continue
        if (a, b) == (seg.start, seg.end):
            inside.append(seg)
            continue
        middle = (seg.start + seg.end) / 2
        keep_text = start <= middle < end
        inside.append(
            seg.model_copy(update={"start": a, "end": b, "text": seg.text if keep_text else ""})
        )
    return Transcript(segments=tuple(inside))


def misheard(text: str, skill: Skill, rng: random.Random) -> str:
    """The text as the person writes it: words substituted, left out, a filler typed in."""
    written: list[str] = []
    for word in text.split():
        lead, core, trail = _split(word)
        key = core.lower()
        if key in CONFUSIONS and rng.random() < skill.substitute:
            core = _cased(rng.choice(CONFUSIONS[key]), core)
        elif core and rng.random() < skill.mishear:
            guess = _SLIPS.get(key) or rng.choice([g for g in _GUESSES if g != key])
            core = _cased(guess, core)
        elif (len(key) <= SHORT_WORD and rng.random() < skill.drop_short) or (
            rng.random() < skill.drop_any
        ):
            continue
        written.append(lead + core + trail)
    if rng.random() < skill.filler:
        written.insert(rng.randint(0, len(written)), rng.choice(FILLERS))
    return " ".join(written)


def expected_wer(skill: str | Skill, rounds: int = 20) -> float:
    """The word error rate the skill's word mistakes and missed segments give, measured over
    every sentence of SENTENCES `rounds` times (deterministic). Boundary, speaker and event
    mistakes do not count in it."""
    how = SKILLS[skill] if isinstance(skill, str) else skill
    rates = []
    for r in range(rounds):
        rng = random.Random(r)
        said = [text if rng.random() >= how.miss else "" for text in SENTENCES]
        written = [misheard(text, how, rng) for text in said]
        rates.append(wer(" ".join(SENTENCES), " ".join(written)))
    return statistics.fmean(rates)


def _best(seg: Segment, proposals: list[Segment]) -> Segment | None:
    """The proposal overlapping the segment most, if any does."""

    def shared(p: Segment) -> float:
        return max(0.0, min(seg.end, p.end) - max(seg.start, p.start))

    best = max(proposals, key=shared, default=None)
    return best if best is not None and shared(best) > 0 else None


def _one_at_a_time(segments: list[Segment]) -> list[Segment]:
    """In order of their start, with no speaker's segments overlapping (as the contract
    wants): a later one starts where the speaker's earlier one ends, or goes."""
    kept: list[Segment] = []
    ends: dict[str, float] = {}
    for seg in sorted(segments, key=lambda s: s.start):
        speaker = seg.speaker
        if speaker is not None and seg.event == "speech":
            free = ends.get(speaker, 0.0)
            if seg.start < free:
                if seg.end - free < MIN_SEGMENT_S:
                    continue
                seg = seg.model_copy(update={"start": free})
            ends[speaker] = seg.end
        kept.append(seg)
    return sorted(kept, key=lambda s: s.start)


def _split(word: str) -> tuple[str, str, str]:
    """A word's leading punctuation, the word, and its trailing punctuation."""
    head = len(word) - len(word.lstrip("\"'(“"))
    tail = len(word.rstrip(".,;:!?\"')”"))
    return word[:head], word[head:tail], word[tail:]


def _cased(word: str, like: str) -> str:
    return word[:1].upper() + word[1:] if like[:1].isupper() else word
