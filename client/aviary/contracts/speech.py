"""Speech: segments of a recording with a transcript, a speaker, an event class and a language.

Times are seconds from the start of the whole recording (not of the task's part), so the parts
of one recording need no conversion when their segments are put together. A task covers one
part of a recording (cut at silences, at most the project's `audio.max_part_s`); its segments
lie inside that part.

What applies is the project's `audio` settings: which event classes, which speakers (empty:
free labels), which languages (empty: none asked) and which attributes.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Literal

from pydantic import Field, model_validator

from aviary.contracts.shapes import Frozen

SpeechEvent = Literal["speech", "noise", "music", "overlap"]
SPEECH_EVENTS: tuple[SpeechEvent, ...] = ("speech", "noise", "music", "overlap")
MAX_SEGMENTS = 2_000
MAX_TEXT = 10_000
AttributeValue = str | bool | float


class Segment(Frozen):
    """One stretch of a recording: what is heard there, and who says it."""

    segment_id: str = Field(min_length=1, max_length=100)
    start: float = Field(ge=0)  # seconds from the recording's start
    end: float = Field(gt=0)
    event: SpeechEvent = "speech"
    text: str = Field(default="", max_length=MAX_TEXT)  # the transcript (speech only)
    speaker: str | None = Field(default=None, min_length=1, max_length=100)
    language: str | None = Field(default=None, min_length=2, max_length=35)  # BCP 47
    attributes: dict[str, AttributeValue] = Field(default_factory=dict, max_length=50)

    @model_validator(mode="after")
    def _ordered(self) -> Segment:
        if self.end <= self.start:
            raise ValueError("a segment ends after it starts")
        if self.event != "speech" and self.text.strip():
            raise ValueError("only a speech segment carries a transcript")
        return self

    @property
    def duration(self) -> float:
        return self.end - self.start


class Transcript(Frozen):
    """A part's segments, in order of their start. Speech segments of different speakers may
    overlap in time; two segments of one speaker may not."""

    segments: tuple[Segment, ...] = Field(default=(), max_length=MAX_SEGMENTS)

    @model_validator(mode="after")
    def _consistent(self) -> Transcript:
        ids = [s.segment_id for s in self.segments]
        if len(set(ids)) != len(ids):
            raise ValueError("segment ids must be unique")
        if any(b.start < a.start for a, b in pairwise(self.segments)):
            raise ValueError("segments must be in order of their start")
        by_speaker: dict[str, float] = {}
        for segment in self.segments:
            if segment.speaker is None or segment.event != "speech":
                continue
            if segment.start < by_speaker.get(segment.speaker, 0.0):
                raise ValueError(f"two segments of speaker {segment.speaker!r} overlap")
            by_speaker[segment.speaker] = segment.end
        return self

    @property
    def text(self) -> str:
        """The speech, segment after segment, as one text."""
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())


class AttributeRule(Frozen):
    """A project attribute of segments: a choice, a flag or a number."""

    name: str = Field(min_length=1, max_length=64)
    kind: Literal["choice", "flag", "number"] = "choice"
    options: tuple[str, ...] = ()  # for a choice
    required: bool = False


class AudioSettings(Frozen):
    """How an audio project's uploads become tasks, and what its segments may say.

    Recordings longer than `max_part_s` are cut at silences into parts of at most that long
    (one task each); voice-activity detection proposes speech segments when `vad` is on.
    """

    max_part_s: float = Field(default=60.0, ge=5, le=1800)
    max_duration_s: float = Field(default=4 * 3600, gt=0, le=12 * 3600)
    max_channels: int = Field(default=8, ge=1, le=32)
    min_sample_rate: int = Field(default=8_000, ge=4_000, le=48_000)
    vad: bool = True
    events: tuple[SpeechEvent, ...] = SPEECH_EVENTS
    speakers: tuple[str, ...] = ()  # empty: annotators name speakers freely
    languages: tuple[str, ...] = ()  # empty: no language asked
    attributes: tuple[AttributeRule, ...] = ()

    @model_validator(mode="after")
    def _events_known(self) -> AudioSettings:
        if not self.events:
            raise ValueError("an audio project needs at least one event class")
        if len(set(self.events)) != len(self.events):
            raise ValueError("event classes must be unique")
        return self


class AudioView(Frozen):
    """An audio task's part of a recording, as the labeling tool and the review desk get it.

    `url` is the recording's listening copy (16 kHz mono, Ogg Opus), the whole recording, to be
    played from `start` to `end`; `peaks_url` its waveform peaks (JSON, docs/media.md)."""

    url: str
    peaks_url: str
    duration_s: float  # the whole recording
    start: float  # the part, seconds from the recording's start
    end: float
    part: int  # this part's index
    parts: int  # parts the recording has in all
    settings: AudioSettings  # what segments may say (events, speakers, languages, attributes)
