// @ts-check
// A part's segments as the labeling tool edits them and the review desk lists them, on plain
// data: the API's types (client/aviary/contracts/speech.py), ids, order, split and merge, what
// is sent (times to the millisecond, inside the part, fields a segment may not carry left
// out), and the problems the server would refuse that the page can name before sending.
import { MIN_REGION_S, clock } from "/ui/common/waveview.js";

/** @typedef {"speech" | "noise" | "music" | "overlap"} SpeechEvent */
/** @typedef {string | boolean | number} AttributeValue */
/** @typedef {{ name: string, kind: "choice" | "flag" | "number", options: string[], required: boolean }} AttributeRule */
/**
 * What a project's segments may say.
 * @typedef {{ max_part_s: number, events: SpeechEvent[], speakers: string[], languages: string[],
 *   attributes: AttributeRule[] }} AudioSettings
 */
/**
 * An audio task's (or review unit's) part of a recording: `url` the whole recording's
 * listening copy, `peaks_url` its peaks; the part runs from `start` to `end` (seconds).
 * @typedef {{ url: string, peaks_url: string, duration_s: number, start: number, end: number,
 *   part: number, parts: number, settings: AudioSettings }} AudioView
 */
/**
 * One stretch of the recording; times in seconds from the recording's start.
 * @typedef {{ segment_id: string, start: number, end: number, event: SpeechEvent, text: string,
 *   speaker: string | null, language: string | null, attributes: Record<string, AttributeValue> }} Segment
 */
/** @typedef {{ segments: Segment[] }} Transcript */
/** A problem with the transcript, about one segment or (null) all of them. @typedef {{ segment_id: string | null, message: string }} Problem */
/** @typedef {import("/ui/common/waveview.js").Span} Span */

export const MAX_SEGMENTS = 2000;
export const MAX_TEXT = 10000;

/**
 * Copies of a transcript's segments, each field present.
 * @param {{ segments?: Partial<Segment>[] } | null | undefined} transcript
 * @returns {Segment[]}
 */
export function fromTranscript(transcript) {
  const list = (transcript?.segments || []).map((s, i) => ({
    segment_id: s.segment_id || `seg-${i + 1}`,
    start: Number(s.start),
    end: Number(s.end),
    event: s.event || "speech",
    text: s.text || "",
    speaker: s.speaker ?? null,
    language: s.language ?? null,
    attributes: { ...(s.attributes || {}) },
  }));
  return sortSegments(list);
}

/**
 * In order of start (then end, then id), in place.
 * @param {Segment[]} list
 */
export function sortSegments(list) {
  return list.sort((a, b) => a.start - b.start || a.end - b.end || a.segment_id.localeCompare(b.segment_id));
}

/**
 * An id no segment of `list` has.
 * @param {readonly Segment[]} list
 */
export function freshId(list) {
  const taken = new Set(list.map((s) => s.segment_id));
  let n = list.length + 1;
  while (taken.has(`seg-${n}`)) n++;
  return `seg-${n}`;
}

/**
 * A new segment over `span`, as the one before it says (speaker, language) when there is one.
 * @param {Segment[]} list
 * @param {Span} span
 * @param {SpeechEvent} event
 * @returns {Segment}
 */
export function addSegment(list, span, event) {
  const segment = { segment_id: freshId(list), start: span.start, end: span.end, event, text: "", speaker: null, language: null, attributes: {} };
  list.push(segment);
  sortSegments(list);
  return segment;
}

/**
 * Cut the segment `id` at `t`: it keeps the part before (and its text), a new one (the same
 * event, speaker, language and attributes) takes the rest. Nothing is cut within
 * `MIN_REGION_S` of an edge.
 * @param {Segment[]} list
 * @param {string} id
 * @param {number} t
 * @returns {Segment | null} the new segment
 */
export function splitSegment(list, id, t) {
  const segment = list.find((s) => s.segment_id === id);
  if (!segment || t - segment.start < MIN_REGION_S || segment.end - t < MIN_REGION_S) return null;
  const rest = { ...segment, segment_id: freshId(list), start: t, text: "", attributes: { ...segment.attributes } };
  segment.end = t;
  list.push(rest);
  sortSegments(list);
  return rest;
}

/**
 * Join the segment `id` with the next one in order: from the earlier start to the later end,
 * the texts one after the other; the rest as the first says.
 * @param {Segment[]} list
 * @param {string} id
 * @returns {boolean} whether there was a next one
 */
export function mergeWithNext(list, id) {
  const index = list.findIndex((s) => s.segment_id === id);
  const first = list[index];
  const next = list[index + 1];
  if (!first || !next) return false;
  first.end = Math.max(first.end, next.end);
  first.text = [first.text.trim(), next.text.trim()].filter(Boolean).join(" ");
  list.splice(index + 1, 1);
  return true;
}

/**
 * @param {number} t
 * @param {Span} part
 */
function onPart(t, part) {
  return Math.min(part.end, Math.max(part.start, Math.round(t * 1000) / 1000));
}

/**
 * The segments as the API takes them: times to the millisecond inside the part, in order;
 * text only on speech; no empty speaker, language or attribute; a speech segment's flags
 * false unless ticked.
 * @param {readonly Segment[]} list
 * @param {Span} part
 * @param {AudioSettings} [settings]
 * @returns {Segment[]}
 */
export function forSubmission(list, part, settings) {
  const flags = (settings?.attributes || []).filter((rule) => rule.kind === "flag").map((rule) => rule.name);
  const out = list.map((s) => {
    /** @type {Record<string, AttributeValue>} */
    const attributes = {};
    if (s.event === "speech") for (const name of flags) attributes[name] = false;
    for (const [name, value] of Object.entries(s.attributes)) {
      if (value === "" || value === null || value === undefined || (typeof value === "number" && Number.isNaN(value))) continue;
      attributes[name] = value;
    }
    return {
      segment_id: s.segment_id,
      start: onPart(s.start, part),
      end: onPart(s.end, part),
      event: s.event,
      text: s.event === "speech" ? s.text : "",
      speaker: s.speaker?.trim() || null,
      language: s.language || null,
      attributes,
    };
  });
  return sortSegments(out);
}

/**
 * A segment's times, as people read them.
 * @param {Span} s
 */
export function timesOf(s) {
  return `${clock(s.start)}–${clock(s.end)}`;
}

/**
 * What the server would refuse that the page can tell first: one speaker's segments that
 * overlap, an attribute a speech segment lacks, too much text, too many segments. (The part's bounds, events, speakers and languages the tool keeps to.)
 * @param {readonly Segment[]} list as `forSubmission` gives them
 * @param {AudioSettings} settings
 * @returns {Problem[]}
 */
export function problems(list, settings) {
  /** @type {Problem[]} */
  const found = [];
  if (list.length > MAX_SEGMENTS) found.push({ segment_id: null, message: `at most ${MAX_SEGMENTS} segments a part (there are ${list.length})` });
  /** @type {Map<string, Segment>} */
  const lastOf = new Map();
  for (const s of list) {
    if (s.end <= s.start) found.push({ segment_id: s.segment_id, message: `${timesOf(s)} ends before it starts` });
    if (s.text.length > MAX_TEXT) found.push({ segment_id: s.segment_id, message: `${timesOf(s)}: the text is over ${MAX_TEXT} characters` });
    if (s.event === "speech" && s.speaker) {
      const before = lastOf.get(s.speaker);
      if (before && s.start < before.end) {
        found.push({ segment_id: s.segment_id, message: `${timesOf(before)} and ${timesOf(s)}: two segments of speaker “${s.speaker}” overlap` });
      }
      if (!before || s.end > before.end) lastOf.set(s.speaker, s);
    }
    for (const rule of settings.attributes || []) {
      const value = s.attributes[rule.name];
      if (rule.required && s.event === "speech" && value === undefined) {
        found.push({ segment_id: s.segment_id, message: `${timesOf(s)}: “${rule.name}” is required` });
      }
    }
  }
  return found;
}
