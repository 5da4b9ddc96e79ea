// @ts-check
// What the labeling tool's audio mode and the review desk's share: a part of a recording on a
// waveform with a toolbar (play, play the selected segment, loop, speed, zoom, the time) and
// the playback keys. The owner adds the segments: it shows them as regions, says which span
// is selected (`stretch`), and fills `list` under the waveform with their rows.
import { clear, el, toast } from "/ui/common/common.js";
import { Playback, SPEEDS } from "/ui/common/playback.js";
import { timesOf } from "/ui/common/segments.js";
import { Waveform } from "/ui/common/waveform.js";
import { clock, decodePeaks } from "/ui/common/waveview.js";

/** @typedef {import("/ui/common/segments.js").AudioView} AudioView */
/** @typedef {import("/ui/common/waveview.js").Span} Span */
/**
 * @typedef {object} PlayerOptions
 * @property {boolean} [editable] whether regions are drawn and their edges moved
 * @property {(id: string | null) => void} [onSelect] a region clicked (null: none)
 * @property {(span: Span) => void} [onCreate] a region drawn
 * @property {(id: string, span: Span, done: boolean) => void} [onChange] a region's edge moved
 * @property {() => Span | undefined} [stretch] what Space plays: the selected segment, if any
 * @property {(time: number) => boolean} [onSeek] a click put the cursor at `time` (after
 *   `onSelect`): true when the owner played something, else the cursor just moves there
 */

/**
 * A play that did not start, said on the page; one cut short by a pause (an AbortError) is
 * what was asked.
 * @param {unknown} error
 */
function failed(error) {
  if (error instanceof DOMException && error.name === "AbortError") return;
  toast(`The recording does not play: ${error instanceof Error ? error.message : String(error)}`, "error");
}

export class AudioPlayer {
  /**
   * @param {HTMLElement} root the element it is built in
   * @param {PlayerOptions} [options]
   */
  constructor(root, { editable = false, onSelect = () => {}, onCreate = () => {}, onChange = () => {}, stretch = () => undefined, onSeek = () => false } = {}) {
    this.root = root;
    this.stretch = stretch;
    this.playButton = el("button", { type: "button", title: "Play or pause (Space)", onclick: () => this.clicked(() => this.togglePlay()) }, "▶");
    const playSegment = el("button", { type: "button", title: "Play the selected segment", onclick: () => this.clicked(() => this.playSpan(this.stretch())) }, "▶ segment");
    this.loopButton = el("button", { type: "button", title: "Loop (L)", "aria-pressed": "false", onclick: () => this.clicked(() => this.toggleLoop()) }, "⟲ loop");
    this.speed = el("select", { "aria-label": "speed", title: "Speed ([ and ])" }, SPEEDS.map((s) => el("option", { value: s, selected: s === 1 }, `${s}×`)));
    this.speed.addEventListener("change", () => this.clicked(() => this.setSpeed(Number(this.speed.value))));
    const zoomOut = el("button", { type: "button", title: "Zoom out (-)", onclick: () => this.clicked(() => this.waveform.zoomOut()) }, "−");
    const zoomIn = el("button", { type: "button", title: "Zoom in (+)", onclick: () => this.clicked(() => this.waveform.zoomIn()) }, "+");
    const fit = el("button", { type: "button", title: "The whole part", onclick: () => this.clicked(() => this.waveform.fit()) }, "Fit");
    this.timeLabel = el("span", { class: "time muted" });
    this.partLabel = el("span", { class: "muted" });
    this.canvas = el("canvas", { class: "waveform", tabindex: "0", "aria-label": editable ? "waveform: drag to mark a segment" : "waveform: click a segment to play it" });
    /** The owner's: a row a segment. */
    this.list = el("div", { class: "segments", role: "list", "aria-label": "segments" });
    this.audio = el("audio", { preload: "auto" });
    clear(
      root,
      el("div", { class: "audio-bar" }, this.playButton, playSegment, this.loopButton, this.speed, zoomOut, zoomIn, fit, this.timeLabel, el("span", { class: "spacer" }), this.partLabel),
      this.canvas,
      this.list,
      this.audio,
    );
    root.classList.add("audio-workspace");
    this.waveform = new Waveform(this.canvas, {
      editable,
      onSelect,
      onCreate,
      onChange,
      onSeek: (t) => onSeek(t) || (this.playback.playing ? this.playFrom(t) : this.playback.seek(t)),
    });
    this.playback = new Playback(this.audio, (t, playing) => this.timeMoved(t, playing));
    // A recording that does not load (gone, refused, a format the browser lacks) is said once.
    this.audio.addEventListener("error", () => {
      if (this.view && this.audio.getAttribute("src")) toast("The recording could not be loaded: the waveform shows, nothing plays.", "error");
    });
    /** @type {AudioView | null} */
    this.view = null;
  }

  /**
   * A part to play: the recording from its start, its peaks fetched (a part without them
   * still plays, over a flat line).
   * @param {AudioView} audio
   */
  async load(audio) {
    this.view = audio;
    this.root.hidden = false;
    this.waveform.setBounds(audio.start, audio.end);
    this.waveform.select(null);
    this.playback.load(audio.url, audio.start, audio.end);
    this.playback.loop = false;
    this.loopButton.setAttribute("aria-pressed", "false");
    this.setSpeed(1);
    this.partLabel.textContent = `part ${audio.part + 1} of ${audio.parts} · ${timesOf(audio)} of ${clock(audio.duration_s, 0)}`;
    this.waveform.setPeaks(null);
    try {
      const response = await fetch(audio.peaks_url);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const peaks = decodePeaks(await response.json());
      if (this.view === audio) this.waveform.setPeaks(peaks);
    } catch {
      toast("The waveform could not be loaded; the recording still plays.", "error");
    }
  }

  unload() {
    this.playback.unload();
    this.view = null;
    this.root.hidden = true;
  }

  /**
   * The playback keys: Space plays or pauses, L loops, [ and ] change speed, + and - zoom,
   * ← and → move the cursor a second (Shift: five). Not in text boxes, nor with Ctrl or Alt.
   * @param {KeyboardEvent} e
   * @returns {boolean} whether the key was one of them
   */
  key(e) {
    if (!this.view || e.ctrlKey || e.metaKey || e.altKey) return false;
    const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    if (key === " ") this.togglePlay();
    else if (key === "l") this.toggleLoop();
    else if (key === "[") this.stepSpeed(-1);
    else if (key === "]") this.stepSpeed(1);
    else if (key === "+" || key === "=") this.waveform.zoomIn();
    else if (key === "-" || key === "_") this.waveform.zoomOut();
    else if (key === "ArrowLeft" || key === "ArrowRight") this.nudge((key === "ArrowLeft" ? -1 : 1) * (e.shiftKey ? 5 : 1));
    else return false;
    return true;
  }

  /**
   * After a button: its action, and the keys back to the waveform.
   * @param {() => void} action
   */
  clicked(action) {
    action();
    this.canvas.focus({ preventScroll: true });
  }

  /** Play from the cursor (within the selected segment, when one is), or pause. */
  togglePlay() {
    if (this.playback.playing) this.playback.pause();
    else this.playFrom(this.playback.time);
  }

  /** @param {number} t where to play from, to the selected segment's end (or the part's) */
  playFrom(t) {
    this.playback.play(this.stretch(), t).catch(failed);
  }

  /** @param {Span | undefined} span played from its start (nothing when none) */
  playSpan(span) {
    if (span) this.playback.play(span, span.start).catch(failed);
  }

  /** Play the whole part from its start. */
  playPart() {
    if (this.view) this.playback.play(undefined, this.view.start).catch(failed);
  }

  toggleLoop() {
    this.playback.loop = !this.playback.loop;
    this.loopButton.setAttribute("aria-pressed", String(this.playback.loop));
  }

  /** @param {number} rate the nearest of 0.5, 0.75, 1, 1.25, 1.5 and 2 */
  setSpeed(rate) {
    const chosen = SPEEDS.reduce((best, s) => (Math.abs(s - rate) < Math.abs(best - rate) ? s : best), 1);
    this.playback.setRate(chosen);
    this.speed.value = String(chosen);
    this.timeMoved(this.playback.time, this.playback.playing);
  }

  /** @param {1 | -1} direction */
  stepSpeed(direction) {
    const index = SPEEDS.indexOf(this.playback.rate);
    this.setSpeed(SPEEDS[Math.max(0, Math.min(SPEEDS.length - 1, (index < 0 ? 2 : index) + direction))]);
  }

  /** @param {number} seconds the cursor moved by */
  nudge(seconds) {
    const t = this.playback.time + seconds;
    if (this.playback.playing) this.playFrom(t);
    else this.playback.seek(t);
    this.waveform.reveal({ start: this.playback.time, end: this.playback.time });
  }

  /**
   * @param {number} t
   * @param {boolean} playing
   */
  timeMoved(t, playing) {
    this.waveform.setCursor(t, playing);
    this.playButton.textContent = playing ? "❚❚" : "▶";
    this.timeLabel.textContent = `${clock(t)} · ${this.playback.rate}×`;
  }
}
