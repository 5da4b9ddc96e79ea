"""What a transcript of one part of a recording may say, by its project's `audio` settings.

The contract (`aviary.contracts.speech`) already refuses what is wrong on its own (a segment
ending before it starts, text on a non-speech segment, one speaker's segments overlapping);
this checks what depends on the project and the part: segments inside the part, the event
classes, speakers and languages the project allows, and its attributes. Dispatch checks a
submission with it, review a correction and a gold answer.
"""

from __future__ import annotations

from aviary.contracts.speech import AttributeRule, AudioSettings, Segment, Transcript
from shared.errors import AppError

# Times are kept to the millisecond; a boundary this close to the part's edge is on it.
EDGE_S = 0.001


def transcript_errors(
    transcript: Transcript, audio: AudioSettings, start_s: float, end_s: float
) -> list[dict[str, object]]:
    """Every problem, each naming its segment, a code and a message."""
    problems: list[dict[str, object]] = []
    for segment in transcript.segments:
        for code, message in _segment_errors(segment, audio, start_s, end_s):
            problems.append({"segment": segment.segment_id, "code": code, "message": message})
    return problems


def require_valid_transcript(
    transcript: Transcript, audio: AudioSettings, start_s: float, end_s: float
) -> None:
    """422 `invalid_transcript` listing every segment at fault."""
    if problems := transcript_errors(transcript, audio, start_s, end_s):
        raise AppError(
            "invalid_transcript",
            f"{len(problems)} problem(s) in the transcript",
            status_code=422,
            details=problems[:500],
        )


def _segment_errors(
    segment: Segment, audio: AudioSettings, start_s: float, end_s: float
) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    if segment.start < start_s - EDGE_S or segment.end > end_s + EDGE_S:
        errors.append(
            ("segment_outside_part", f"the part runs from {start_s:.3f} s to {end_s:.3f} s")
        )
    if segment.event not in audio.events:
        errors.append(("unknown_event", f"events are {list(audio.events)}"))
    if audio.speakers and segment.speaker is not None and segment.speaker not in audio.speakers:
        errors.append(("unknown_speaker", f"speakers are {list(audio.speakers)}"))
    if segment.language is not None and segment.language not in audio.languages:
        allowed = list(audio.languages) or "none (the project asks for no language)"
        errors.append(("unknown_language", f"languages are {allowed}"))
    rules = {rule.name: rule for rule in audio.attributes}
    for name, value in segment.attributes.items():
        rule = rules.get(name)
        if rule is None:
            errors.append(("unknown_attribute", f"{name!r} is not an attribute of this project"))
        elif message := _value_error(rule, value):
            errors.append(("invalid_attribute", message))
    for rule in audio.attributes:
        if rule.required and segment.event == "speech" and rule.name not in segment.attributes:
            errors.append(("missing_attribute", f"{rule.name!r} is required"))
    return errors


def _value_error(rule: AttributeRule, value: str | bool | float) -> str | None:
    if rule.kind == "flag" and not isinstance(value, bool):
        return f"{rule.name!r} is a flag (true or false)"
    if rule.kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
        return f"{rule.name!r} is a number"
    if rule.kind == "choice" and value not in rule.options:
        return f"{rule.name!r} is one of {list(rule.options)}"
    return None
