// @ts-check
// The labeling workspace's audio mode: a part of a recording on a waveform, its segments as
// regions, and under it the list where each segment gets its event class, speaker, language,
// attributes and transcript. Listening drives the work, so the keyboard does most
// of it (see `key`): play and pause, step through the segments, split at the cursor, loop,
// change speed, delete, and jump into and out of the transcript box. It starts from the
// segments voice-activity detection proposed (or, on rework, from what was sent last time),
// and `submission()` gives the transcript as the API takes it.
import { AudioPlayer } from "/ui/common/audioplayer.js";
import { clear, el, toast } from "/ui/common/common.js";
import {
  MAX_TEXT,
  addSegment,
  forSubmission,
  fromTranscript,
  mergeWithNext,
  problems,
  sortSegments,
  splitSegment,
  timesOf,
} from "/ui/common/segments.js";
import { eventColor } from "/ui/common/waveform.js";

/** @typedef {import("/ui/common/segments.js").AudioView} AudioView */
/** @typedef {import("/ui/common/segments.js").AttributeRule} AttributeRule */
/** @typedef {import("/ui/common/segments.js").Segment} Segment */
/** @typedef {import("/ui/common/segments.js").SpeechEvent} SpeechEvent */
/** @typedef {import("/ui/common/segments.js").Transcript} Transcript */
/** @typedef {import("/ui/common/segments.js").Problem} Problem */
/** @typedef {import("/ui/common/waveview.js").Span} Span */
/**
 * What the audio mode reads of a task (POST /v1/tasks/next).
 * @typedef {{ audio: AudioView, rework: number, pre_transcript?: Transcript | null,
 *   previous_transcript?: Transcript | null,
 *   comments?: { reason: string, comment: string, segment_id?: string | null }[] }} AudioTask
 */
/**
 * A segment's row in the list: the elements that change after it is built.
 * @typedef {{ row: HTMLElement, times: HTMLElement, swatch: HTMLElement, text: HTMLTextAreaElement,
 *   textNote: HTMLElement, note: HTMLElement, comments: string[] }} Row
 */

const SPEAKERS_LIST = "audio-speaker-names";

/**
 * Whether keys typed there are the control's (text boxes, selects, checkboxes).
 * @param {EventTarget | null} target
 */
function isField(target) {
  return target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement;
}

export class AudioWorkspace {
  /** @param {HTMLElement} root the element the workspace is built in (shown while a task is open) */
  constructor(root) {
    this.root = root;
    /** @type {AudioTask | null} */
    this.task = null;
    /** @type {Segment[]} */
    this.segments = [];
    /** @type {string | null} */
    this.selected = null;
    /** @type {Map<string, Row>} */
    this.rows = new Map();
    /** @type {Span} */
    this.part = { start: 0, end: 0 };

    this.player = new AudioPlayer(root, {
      editable: true,
      onSelect: (id) => this.select(id, false),
      onCreate: (span) => this.create(span),
      onChange: (id, span, done) => this.moved(id, span, done),
      stretch: () => this.selectedSpan(),
    });
    this.waveform = this.player.waveform;
    this.playback = this.player.playback;
    this.canvas = this.player.canvas;
    this.list = this.player.list;
    this.speakers = el("datalist", { id: SPEAKERS_LIST });
    root.append(this.speakers);
  }

  /**
   * Open an audio task: the recording, its peaks, the segments to start from.
   * @param {AudioTask} task
   */
  async open(task) {
    this.task = task;
    const audio = task.audio;
    this.part = { start: audio.start, end: audio.end };
    const start = task.rework > 0 && task.previous_transcript ? task.previous_transcript : task.pre_transcript;
    this.segments = fromTranscript(start);
    this.selected = null;
    this.buildList();
    await this.player.load(audio);
  }

  close() {
    if (!this.task) return;
    this.player.unload();
    this.task = null;
    this.segments = [];
  }

  /** @returns {Transcript} the segments, as the API takes them */
  submission() {
    return { segments: forSubmission(this.segments, this.part, this.task?.audio.settings) };
  }

  /** @returns {Problem[]} what the server would refuse, named before sending */
  problems() {
    const settings = this.task?.audio.settings;
    return settings ? problems(this.submission().segments, settings) : [];
  }

  /**
   * Mark the segments at fault (the page's or the server's problems), none when empty.
   * @param {Problem[]} found
   */
  showProblems(found) {
    for (const [id, row] of this.rows) {
      const mine = found.filter((p) => p.segment_id === id).map((p) => p.message);
      row.row.classList.toggle("invalid", mine.length > 0);
      clear(row.note, row.comments.map((c) => el("div", { class: "comment" }, c)), mine.map((m) => el("div", { class: "error" }, m)));
    }
    const first = found.find((p) => p.segment_id && this.rows.has(p.segment_id));
    if (first?.segment_id) this.select(first.segment_id);
  }

  /**
   * A segment's times, by its id (for messages).
   * @param {string | null | undefined} id
   */
  describe(id) {
    const segment = this.segments.find((s) => s.segment_id === id);
    return segment ? timesOf(segment) : id || "";
  }

  // ----- keys ---------------------------------------------------------------------------------

  /**
   * The audio mode's keys (the page calls this first for each key). In a text box only Escape
   * is ours (back to the waveform); a dialog's keys, and Space and Enter on the page's other
   * buttons, are theirs; elsewhere Space plays or pauses, Tab and Shift+Tab go to
   * the next and previous segment, S splits at the cursor, M merges with the next, L loops,
   * [ and ] change speed, Delete removes, Enter goes to the transcript, Escape unselects,
   * + and - zoom, ← and → move the cursor a second (Shift: five).
   * @param {KeyboardEvent} e
   * @returns {boolean} whether the key was one of them (the page then prevents its default)
   */
  key(e) {
    if (!this.task) return false;
    const target = e.target instanceof Element ? e.target : null;
    if (target?.closest("dialog")) return false; // a dialog's keys are its own
    if (target instanceof HTMLButtonElement && !this.root.contains(target) && (e.key === " " || e.key === "Enter")) return false;
    if (isField(target)) {
      if (e.key !== "Escape" || !this.root.contains(target)) return false;
      /** @type {HTMLElement} */ (e.target).blur();
      this.canvas.focus({ preventScroll: true });
      return true;
    }
    if (this.player.key(e)) return true;
    if (e.ctrlKey || e.metaKey || e.altKey) return false;
    const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    if (key === "Tab") this.selectNext(e.shiftKey ? -1 : 1);
    else if (key === "s") this.split();
    else if (key === "m") this.merge();
    else if (key === "Delete" || key === "Backspace") this.removeSelected();
    else if (key === "Enter") this.focusText();
    else if (key === "Escape") this.select(null);
    else return false;
    return true;
  }

  // ----- playback -----------------------------------------------------------------------------

  /** The selected segment's span, if one is selected. */
  selectedSpan() {
    const segment = this.segments.find((s) => s.segment_id === this.selected);
    return segment ? { start: segment.start, end: segment.end } : undefined;
  }

  /** @param {string} id the segment played from its start */
  playRegion(id) {
    this.select(id);
    this.player.playSpan(this.selectedSpan());
  }

  // ----- editing ------------------------------------------------------------------------------

  /** The event class a new segment gets: speech, when the project has it. */
  defaultEvent() {
    const events = this.task?.audio.settings.events || ["speech"];
    return events.includes("speech") ? "speech" : events[0];
  }

  /** @param {Span} span a region drawn on the waveform */
  create(span) {
    const segment = addSegment(this.segments, span, this.defaultEvent());
    this.changed();
    this.select(segment.segment_id, false);
  }

  /**
   * An edge dragged: the times follow; on release, the order too.
   * @param {string} id
   * @param {Span} span
   * @param {boolean} done
   */
  moved(id, span, done) {
    const segment = this.segments.find((s) => s.segment_id === id);
    if (!segment) return;
    segment.start = span.start;
    segment.end = span.end;
    const row = this.rows.get(id);
    if (row) row.times.textContent = timesOf(segment);
    if (done) {
      sortSegments(this.segments);
      this.changed();
    }
  }

  /** Split the segment under the cursor (the selected one first) at the cursor. */
  split() {
    const t = this.playback.time;
    const selected = this.selectedSpan();
    const id = selected && selected.start < t && t < selected.end ? this.selected : this.waveform.regionAt(t);
    if (!id) return toast("Put the cursor inside a segment to split it.");
    if (!splitSegment(this.segments, id, t)) return toast("Too close to the segment's edge to split there.");
    this.changed();
    this.select(id, false);
  }

  /** Merge the selected segment with the next one. */
  merge() {
    if (!this.selected) return toast("Select a segment first.");
    if (!mergeWithNext(this.segments, this.selected)) return toast("There is no next segment.");
    this.changed();
    this.select(this.selected, false);
  }

  removeSelected() {
    const index = this.segments.findIndex((s) => s.segment_id === this.selected);
    if (index < 0) return;
    this.segments.splice(index, 1);
    this.changed();
    const next = this.segments[Math.min(index, this.segments.length - 1)];
    this.select(next ? next.segment_id : null);
  }

  /** After segments were added, removed, split, merged or reordered: the regions and the list. */
  changed() {
    this.buildList();
  }

  // ----- selection ----------------------------------------------------------------------------

  /**
   * @param {string | null} id
   * @param {boolean} [reveal] bring it into view on the waveform
   */
  select(id, reveal = true) {
    const segment = this.segments.find((s) => s.segment_id === id) || null;
    this.selected = segment ? segment.segment_id : null;
    this.waveform.select(this.selected);
    for (const [rowId, row] of this.rows) row.row.classList.toggle("selected", rowId === this.selected);
    if (!segment) return;
    if (reveal) this.waveform.reveal(segment);
    this.rows.get(segment.segment_id)?.row.scrollIntoView({ block: "nearest" });
  }

  /** @param {1 | -1} direction the next segment (or the previous), the cursor to its start */
  selectNext(direction) {
    if (!this.segments.length) return;
    const index = this.segments.findIndex((s) => s.segment_id === this.selected);
    let next;
    if (index < 0) {
      const t = this.playback.time;
      next = direction > 0 ? this.segments.find((s) => s.end > t) ?? this.segments[0] : [...this.segments].reverse().find((s) => s.start < t) ?? this.segments[this.segments.length - 1];
    } else next = this.segments[(index + direction + this.segments.length) % this.segments.length];
    this.select(next.segment_id);
    if (!this.playback.playing) this.playback.seek(next.start);
  }

  /** The selected segment's transcript box (its event select, when it is not speech). */
  focusText() {
    if (!this.selected) this.select(this.waveform.regionAt(this.playback.time));
    const row = this.selected ? this.rows.get(this.selected) : undefined;
    if (!row) return toast("Select a segment first.");
    if (!row.text.hidden) row.text.focus();
    else row.row.querySelector("select")?.focus();
  }

  // ----- the list -----------------------------------------------------------------------------

  /** Every segment's row again, and the regions on the waveform. */
  buildList() {
    this.rows = new Map();
    const rows = this.segments.map((segment) => {
      const row = this.buildRow(segment);
      this.rows.set(segment.segment_id, row);
      return row.row;
    });
    clear(this.list, rows.length ? rows : el("div", { class: "muted" }, "Drag on the waveform to mark a segment."));
    for (const [id, row] of this.rows) row.row.classList.toggle("selected", id === this.selected);
    this.refreshRegions();
    this.refreshSpeakers();
  }

  refreshRegions() {
    this.waveform.setRegions(this.segments.map((s) => ({ id: s.segment_id, start: s.start, end: s.end, event: s.event, label: s.speaker || "" })));
  }

  /** The speaker names used so far, offered when speakers are named freely. */
  refreshSpeakers() {
    const names = [...new Set(this.segments.map((s) => s.speaker).filter((n) => n))].sort();
    clear(this.speakers, names.map((n) => el("option", { value: n || "" })));
  }

  /**
   * @param {Segment} segment
   * @returns {Row}
   */
  buildRow(segment) {
    const settings = /** @type {AudioTask} */ (this.task).audio.settings;
    const id = segment.segment_id;
    const times = el("span", { class: "times" }, timesOf(segment));
    const swatch = el("span", { class: "swatch", style: { background: eventColor(segment.event) } });
    const play = el("button", { type: "button", title: "Play this segment", onclick: () => this.player.clicked(() => this.playRegion(id)) }, "▶");
    const remove = el("button", { type: "button", class: "danger", title: "Delete this segment (Del)", onclick: () => this.player.clicked(() => { this.select(id); this.removeSelected(); }) }, "✕");

    const events = settings.events.includes(segment.event) ? settings.events : [segment.event, ...settings.events];
    const event = el("select", { "aria-label": "event" }, events.map((e) => el("option", { value: e, selected: e === segment.event }, e)));
    const text = el("textarea", { class: "transcript", rows: 2, maxlength: MAX_TEXT, placeholder: "What is said", "aria-label": "transcript" });
    text.value = segment.text;
    text.addEventListener("input", () => (segment.text = text.value));
    const textNote = el("div", { class: "muted" }, "Only speech carries a transcript.");
    const showText = () => {
      text.hidden = segment.event !== "speech";
      textNote.hidden = segment.event === "speech";
    };
    showText();
    event.addEventListener("change", () => {
      segment.event = /** @type {SpeechEvent} */ (event.value);
      swatch.style.background = eventColor(segment.event);
      showText();
      this.refreshRegions();
    });

    /** @type {HTMLInputElement | HTMLSelectElement} */
    let speaker;
    if (settings.speakers.length) {
      const known = segment.speaker && !settings.speakers.includes(segment.speaker) ? [segment.speaker, ...settings.speakers] : settings.speakers;
      speaker = el("select", { "aria-label": "speaker" }, el("option", { value: "" }, "–"), known.map((n) => el("option", { value: n, selected: n === segment.speaker }, n)));
    } else {
      speaker = el("input", { "aria-label": "speaker", list: SPEAKERS_LIST, placeholder: "speaker", maxlength: 100, size: 12 });
      speaker.value = segment.speaker || "";
    }
    // Kept as typed (a submit may come before the box is left); the names offered and the
    // waveform's labels follow when it is left.
    speaker.addEventListener("input", () => (segment.speaker = speaker.value.trim() || null));
    speaker.addEventListener("change", () => {
      segment.speaker = speaker.value.trim() || null;
      this.refreshRegions();
      this.refreshSpeakers();
    });

    let language = null;
    if (settings.languages.length) {
      const select = el("select", { "aria-label": "language" }, el("option", { value: "" }, "–"), settings.languages.map((l) => el("option", { value: l, selected: l === segment.language }, l)));
      select.addEventListener("change", () => (segment.language = select.value || null));
      language = select;
    }

    const attributes = settings.attributes.map((rule) => this.attributeField(segment, rule));
    const comments = (this.task?.comments || []).filter((c) => c.segment_id === id).map((c) => `Reviewer: ${c.reason}. ${c.comment}`);
    const note = el("div", { class: "segment-note" }, comments.map((c) => el("div", { class: "comment" }, c)));
    const row = el(
      "div",
      { class: "segment-row", role: "listitem", dataset: { segmentId: id } },
      el("div", { class: "segment-head" }, swatch, times, el("span", { class: "spacer" }), play, remove),
      el("div", { class: "segment-fields" }, field("event", event), field("speaker", speaker), language ? field("language", language) : null, attributes),
      text,
      textNote,
      note,
    );
    row.classList.toggle("flagged", comments.length > 0);
    row.addEventListener("focusin", () => this.selected !== id && this.select(id, true));
    row.addEventListener("click", (e) => {
      if (!isField(e.target) && !(e.target instanceof HTMLButtonElement)) this.select(id);
    });
    return { row, times, swatch, text, textNote, note, comments };
  }

  /**
   * A project attribute's control for one segment: a choice, a flag or a number.
   * @param {Segment} segment
   * @param {AttributeRule} rule
   */
  attributeField(segment, rule) {
    const value = segment.attributes[rule.name];
    const name = rule.name + (rule.required ? " *" : "");
    /** @param {string | boolean | number | null} v */
    const set = (v) => {
      if (v === null || v === "") delete segment.attributes[rule.name];
      else segment.attributes[rule.name] = v;
    };
    if (rule.kind === "flag") {
      const box = el("input", { type: "checkbox", checked: value === true, "aria-label": rule.name });
      box.addEventListener("change", () => set(box.checked));
      return field(name, box);
    }
    if (rule.kind === "number") {
      const input = el("input", { type: "number", step: "any", "aria-label": rule.name, size: 6 });
      input.value = typeof value === "number" ? String(value) : "";
      input.addEventListener("input", () => set(input.value === "" || Number.isNaN(input.valueAsNumber) ? null : input.valueAsNumber));
      return field(name, input);
    }
    const options = typeof value === "string" && !rule.options.includes(value) ? [value, ...rule.options] : rule.options;
    const select = el("select", { "aria-label": rule.name }, el("option", { value: "" }, "–"), options.map((o) => el("option", { value: o, selected: o === value }, o)));
    select.addEventListener("change", () => set(select.value || null));
    return field(name, select);
  }
}

/**
 * A labelled control of a segment's row.
 * @param {string} name
 * @param {HTMLElement} control
 */
function field(name, control) {
  return el("label", {}, el("span", {}, name), control);
}

