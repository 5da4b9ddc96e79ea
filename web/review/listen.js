// @ts-check
// The review desk's audio mode: the part's segments as regions on the waveform (read-only),
// each segment's transcript listed under it. A click on a region or its row plays that
// segment; the toolbar plays the whole part. The selected segment is what a rejection points
// at. A disputed part's versions are shown one at a time (`show`) and read word by word
// against the agreed text (`wordDiff`).
import { AudioPlayer } from "/ui/common/audioplayer.js";
import { clear, el } from "/ui/common/common.js";
import { fromTranscript, timesOf } from "/ui/common/segments.js";
import { eventColor } from "/ui/common/waveform.js";

/** @typedef {import("/ui/common/segments.js").AudioView} AudioView */
/** @typedef {import("/ui/common/segments.js").Segment} Segment */
/** @typedef {import("/ui/common/segments.js").Transcript} Transcript */
/**
 * One step of a version against the agreed text: the agreed words (`ref`) and the version's
 * (`hyp`).
 * @typedef {{ op: "equal" | "substitute" | "insert" | "delete", ref: string[], hyp: string[] }} DiffOp
 */

export class AudioDesk {
  /**
   * @param {HTMLElement} root the element it is built in (shown while an audio part is open)
   * @param {(id: string | null) => void} [onSelect] the segment selected (null: none)
   */
  constructor(root, onSelect = () => {}) {
    this.onSelect = onSelect;
    /** @type {Segment[]} */
    this.segments = [];
    /** @type {string | null} */
    this.selected = null;
    /** @type {Map<string, HTMLElement>} */
    this.rows = new Map();
    this.player = new AudioPlayer(root, {
      onSelect: (id) => this.select(id),
      stretch: () => this.span(this.selected),
      onSeek: (t) => {
        const span = this.span(this.selected);
        if (!span || t < span.start || t > span.end) return false;
        this.player.playSpan(span);
        return true;
      },
    });
    root.hidden = true;
  }

  /**
   * An audio part under review: its recording and segments.
   * @param {{ audio: AudioView, transcript?: Transcript | null }} unit
   */
  async open(unit) {
    this.show(unit.transcript);
    await this.player.load(unit.audio);
  }

  close() {
    if (!this.player.view) return;
    this.player.unload();
    this.segments = [];
    this.selected = null;
  }

  /**
   * Other segments on the waveform and in the list (a disputed part's versions, one at a time).
   * @param {Transcript | null | undefined} transcript
   */
  show(transcript) {
    this.segments = fromTranscript(transcript);
    this.rows = new Map(this.segments.map((s) => [s.segment_id, this.row(s)]));
    clear(this.player.list, this.rows.size ? [...this.rows.values()] : el("div", { class: "muted" }, "No segments."));
    this.player.waveform.setRegions(this.segments.map((s) => ({ id: s.segment_id, start: s.start, end: s.end, event: s.event, label: s.speaker || "" })));
    this.select(this.segments.some((s) => s.segment_id === this.selected) ? this.selected : null);
  }

  /**
   * @param {string | null} id
   * @returns {{ start: number, end: number } | undefined}
   */
  span(id) {
    const s = this.segments.find((x) => x.segment_id === id);
    return s ? { start: s.start, end: s.end } : undefined;
  }

  /** @param {string | null} id the segment selected (none: null) */
  select(id) {
    this.selected = this.segments.some((s) => s.segment_id === id) ? id : null;
    this.player.waveform.select(this.selected);
    for (const [rowId, row] of this.rows) row.classList.toggle("selected", rowId === this.selected);
    const span = this.span(this.selected);
    if (span) {
      this.player.waveform.reveal(span);
      this.rows.get(/** @type {string} */ (this.selected))?.scrollIntoView({ block: "nearest" });
    }
    this.onSelect(this.selected);
  }

  /** @param {string} id the segment selected and played from its start */
  play(id) {
    this.select(id);
    this.player.playSpan(this.span(id));
  }

  /**
   * The desk's audio keys: the playback keys, and Tab / Shift+Tab to the next and previous
   * segment while the waveform (or nothing) has the focus, so that Tab still reaches the
   * desk's buttons from them.
   * @param {KeyboardEvent} e
   * @returns {boolean} whether the key was one of them
   */
  key(e) {
    if (e.target instanceof HTMLButtonElement && (e.key === " " || e.key === "Enter")) return false; // the button's
    if (this.player.key(e)) return true;
    if (e.key !== "Tab" || !this.segments.length || e.ctrlKey || e.altKey || e.metaKey) return false;
    if (e.target !== this.player.canvas && e.target !== document.body) return false;
    const index = this.segments.findIndex((s) => s.segment_id === this.selected);
    const step = e.shiftKey ? -1 : 1;
    const next = this.segments[index < 0 ? (step > 0 ? 0 : this.segments.length - 1) : (index + step + this.segments.length) % this.segments.length];
    this.select(next.segment_id);
    if (!this.player.playback.playing) this.player.playback.seek(next.start);
    return true;
  }

  /**
   * A segment's row: its times, what it is, and its transcript; a click plays it.
   * @param {Segment} s
   */
  row(s) {
    const about = [s.event, s.speaker ? `speaker ${s.speaker}` : "", s.language || "", ...Object.entries(s.attributes).map(([k, v]) => `${k}: ${v}`)];
    const row = el(
      "div",
      { class: "segment-row", role: "listitem", dataset: { segmentId: s.segment_id } },
      el(
        "div",
        { class: "segment-head" },
        el("span", { class: "swatch", style: { background: eventColor(s.event) } }),
        el("span", { class: "times" }, timesOf(s)),
        el("span", { class: "muted" }, about.filter(Boolean).join(" · ")),
        el("span", { class: "spacer" }),
        el("button", { type: "button", title: "Play this segment" }, "▶"),
      ),
      s.event === "speech" ? el("div", { class: "said" }, s.text || "(no text)") : null,
    );
    row.addEventListener("click", () => this.player.clicked(() => this.play(s.segment_id)));
    return row;
  }
}

/**
 * A version's words against the agreed text: equal words plain, a substitution as the agreed
 * words struck out and the version's underlined (`del`, `ins` of class `diff-sub`), words only
 * the version has underlined (`ins.diff-ins`), words it lacks struck out (`del.diff-del`).
 * @param {DiffOp[]} ops
 * @returns {HTMLElement}
 */
export function wordDiff(ops) {
  /** @type {(Node | string)[]} */
  const parts = [];
  for (const op of ops) {
    if (parts.length) parts.push(" ");
    const ref = (op.ref || []).join(" ");
    const hyp = (op.hyp || []).join(" ");
    if (op.op === "equal") parts.push(hyp || ref);
    else if (op.op === "substitute") parts.push(el("del", { class: "diff-sub", title: "agreed" }, ref), " ", el("ins", { class: "diff-sub", title: "this version" }, hyp));
    else if (op.op === "insert") parts.push(el("ins", { class: "diff-ins", title: "only in this version" }, hyp));
    else parts.push(el("del", { class: "diff-del", title: "missing from this version" }, ref));
  }
  return el("p", { class: "word-diff" }, parts.length ? parts : el("span", { class: "muted" }, "No words."));
}
