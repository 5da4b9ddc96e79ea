// @ts-check
// The waveform on a <canvas>, shared by the labeling tool and the review desk: the part's peaks
// with a time ruler above, the play cursor, and regions coloured by their event class (the
// selected one highlighted, overlapping ones in lanes). Ctrl+wheel zooms around the pointer,
// the wheel scrolls, dragging the ruler pans. When editable, dragging on empty waveform draws
// a region (Alt+drag over one draws an overlapping one), dragging an edge moves it (clamped to
// the part, nothing snapped), a click selects and puts the cursor there. The region data is
// the host's: the waveform shows what `setRegions` gives and reports edits by callbacks.
// Geometry and hit tests are plain functions in waveview.js.
import {
  clampView,
  columns,
  hitTest,
  lanes,
  moveEdge,
  regionBox,
  revealView,
  scrollView,
  spanBetween,
  ticks,
  timeToX,
  xToTime,
  zoomView,
} from "/ui/common/waveview.js";

/** @typedef {import("/ui/common/waveview.js").Peaks} Peaks */
/** @typedef {import("/ui/common/waveview.js").Region} Region */
/** @typedef {import("/ui/common/waveview.js").Span} Span */
/** @typedef {import("/ui/common/waveview.js").View} View */
/** @typedef {import("/ui/common/waveview.js").Layout} Layout */
/**
 * @typedef {object} WaveformOptions
 * @property {boolean} [editable] whether regions are drawn and their edges moved
 * @property {(id: string | null) => void} [onSelect] a region clicked (null: empty waveform)
 * @property {(time: number) => void} [onSeek] the cursor put at a time by a click
 * @property {(span: Span) => void} [onCreate] a region drawn
 * @property {(id: string, span: Span, done: boolean) => void} [onChange] an edge moved (`done` on release)
 */
/**
 * A drag in progress: the ruler panned, an edge moved, a region drawn, or a press that is a
 * click unless the pointer moves.
 * @typedef {{ kind: "pan", x: number, view: View, moved: boolean }
 *   | { kind: "edge", id: string, side: "start" | "end", origin: Span }
 *   | { kind: "draw", from: number, x: number, to: number, id: string | null }
 *   | { kind: "press", id: string | null, x: number }} Drag
 */

/** Each event class's colour. */
export const EVENT_COLORS = /** @type {Record<string, string>} */ ({
  speech: "#4cc9f0",
  noise: "#ffb703",
  music: "#9d4edd",
  overlap: "#f72585",
});
const RULER_PX = 20;
const CLICK_PX = 3; // a press that moves less is a click
const ZOOM_STEP = 1.5;

/** @param {string} event */
export function eventColor(event) {
  return EVENT_COLORS[event] ?? "#9aa1b2";
}

export class Waveform {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {WaveformOptions} [options]
   */
  constructor(canvas, { editable = false, onSelect = () => {}, onSeek = () => {}, onCreate = () => {}, onChange = () => {} } = {}) {
    const ctx = canvas.getContext("2d");
    if (!ctx) throw new Error("this browser draws no 2D canvas");
    this.canvas = canvas;
    this.ctx = ctx;
    this.editable = editable;
    this.onSelect = onSelect;
    this.onSeek = onSeek;
    this.onCreate = onCreate;
    this.onChange = onChange;
    /** @type {Peaks | null} */
    this.peaks = null;
    /** @type {Span} the part: everything the view and the regions stay inside */
    this.bounds = { start: 0, end: 1 };
    /** @type {View} */
    this.view = { start: 0, end: 1, width: 1 };
    /** @type {Region[]} */
    this.regions = [];
    /** @type {string | null} */
    this.selected = null;
    this.cursor = 0;
    /** @type {Drag | null} */
    this.drag = null;
    this.listen();
    new ResizeObserver(() => this.resize()).observe(canvas);
  }

  /** @returns {Layout} */
  layout() {
    const rect = this.canvas.getBoundingClientRect();
    return { width: rect.width, height: rect.height, ruler: RULER_PX };
  }

  // ----- what is shown ------------------------------------------------------------------------

  /** @param {Peaks | null} peaks */
  setPeaks(peaks) {
    this.peaks = peaks;
    this.render();
  }

  /**
   * The part to show (seconds from the recording's start), all of it in view.
   * @param {number} start
   * @param {number} end
   */
  setBounds(start, end) {
    this.bounds = { start, end: Math.max(end, start + 0.001) };
    this.view = { ...this.bounds, width: this.view.width };
    this.cursor = start;
    this.render();
  }

  /** @param {Region[]} regions */
  setRegions(regions) {
    this.regions = regions.map((r) => ({ ...r }));
    if (this.selected !== null && !this.regions.some((r) => r.id === this.selected)) this.selected = null;
    this.render();
  }

  /** @param {string | null} id the region to highlight (no callback) */
  select(id) {
    this.selected = id;
    this.render();
  }

  /**
   * The play cursor at `t`; with `follow`, the view turns the page when it leaves it.
   * @param {number} t
   * @param {boolean} [follow]
   */
  setCursor(t, follow = false) {
    this.cursor = t;
    if (follow && (t < this.view.start || t > this.view.end)) {
      const span = this.view.end - this.view.start;
      this.view = clampView({ start: t - span * 0.05, end: t + span * 0.95, width: this.view.width }, this.bounds);
    }
    this.render();
  }

  // ----- zoom and scroll ----------------------------------------------------------------------

  /**
   * @param {number} factor above 1: closer
   * @param {number} [around] the time that stays put (the cursor when it is in view, else the middle)
   */
  zoom(factor, around) {
    const middle = (this.view.start + this.view.end) / 2;
    const inView = this.cursor >= this.view.start && this.cursor <= this.view.end;
    this.view = zoomView(this.view, factor, around ?? (inView ? this.cursor : middle), this.bounds);
    this.render();
  }

  zoomIn() {
    this.zoom(ZOOM_STEP);
  }

  zoomOut() {
    this.zoom(1 / ZOOM_STEP);
  }

  /** The whole part in view. */
  fit() {
    this.view = { ...this.bounds, width: this.view.width };
    this.render();
  }

  /** @param {number} seconds */
  scroll(seconds) {
    this.view = scrollView(this.view, seconds, this.bounds);
    this.render();
  }

  /** @param {Span} span brought into view */
  reveal(span) {
    this.view = revealView(this.view, span, this.bounds);
    this.render();
  }

  // ----- pointer ------------------------------------------------------------------------------

  listen() {
    const c = this.canvas;
    c.addEventListener("pointerdown", (e) => this.down(e));
    c.addEventListener("pointermove", (e) => this.move(e));
    c.addEventListener("pointerup", (e) => this.up(e));
    c.addEventListener("pointercancel", () => {
      this.drag = null;
      this.render();
    });
    c.addEventListener("wheel", (e) => this.wheel(e), { passive: false });
  }

  /** @param {MouseEvent} e */
  point(e) {
    const rect = this.canvas.getBoundingClientRect();
    return { x: e.clientX - rect.left, y: e.clientY - rect.top };
  }

  /** @param {PointerEvent} e */
  down(e) {
    if (e.button !== 0) return;
    const { x, y } = this.point(e);
    const hit = hitTest(this.regions, this.selected, this.view, this.layout(), x, y);
    this.canvas.focus({ preventScroll: true });
    this.canvas.setPointerCapture(e.pointerId);
    const t = xToTime(this.view, x);
    if (hit.kind === "ruler") this.drag = { kind: "pan", x, view: this.view, moved: false };
    else if (hit.kind === "edge" && this.editable) {
      const region = this.regions.find((r) => r.id === hit.id);
      if (!region) return;
      this.drag = { kind: "edge", id: hit.id, side: hit.side, origin: { start: region.start, end: region.end } };
      this.selected = hit.id;
      this.onSelect(hit.id);
    } else if (this.editable && (hit.kind === "empty" || e.altKey)) this.drag = { kind: "draw", from: t, x, to: t, id: hit.kind === "region" ? hit.id : null };
    else this.drag = { kind: "press", id: hit.kind === "region" || hit.kind === "edge" ? hit.id : null, x };
    e.preventDefault();
  }

  /** @param {PointerEvent} e */
  move(e) {
    const { x, y } = this.point(e);
    const drag = this.drag;
    if (!drag) {
      const hit = hitTest(this.regions, this.selected, this.view, this.layout(), x, y);
      this.canvas.style.cursor = hit.kind === "ruler" ? "grab" : hit.kind === "edge" && this.editable ? "ew-resize" : this.editable && hit.kind === "empty" ? "crosshair" : "pointer";
      return;
    }
    const t = xToTime(this.view, x);
    if (drag.kind === "pan") {
      const seconds = ((drag.x - x) / drag.view.width) * (drag.view.end - drag.view.start);
      drag.moved = drag.moved || Math.abs(drag.x - x) >= CLICK_PX;
      this.view = scrollView(drag.view, seconds, this.bounds);
    } else if (drag.kind === "edge") {
      const region = this.regions.find((r) => r.id === drag.id);
      if (!region) return;
      Object.assign(region, moveEdge(drag.origin, drag.side, t, this.bounds));
      this.onChange(drag.id, { start: region.start, end: region.end }, false);
    } else if (drag.kind === "draw") {
      drag.to = t;
    }
    this.render();
  }

  /** @param {PointerEvent} e */
  up(e) {
    const drag = this.drag;
    this.drag = null;
    if (!drag) return;
    const { x } = this.point(e);
    const t = xToTime(this.view, x);
    if (drag.kind === "pan" && !drag.moved) this.click(null, t);
    else if (drag.kind === "edge") {
      const region = this.regions.find((r) => r.id === drag.id);
      if (region) this.onChange(drag.id, { start: region.start, end: region.end }, true);
    } else if (drag.kind === "draw") {
      const span = spanBetween(drag.from, t, this.bounds);
      if (Math.abs(x - drag.x) >= CLICK_PX && span.end > span.start) this.onCreate(span);
      else this.click(drag.id, t);
    } else if (drag.kind === "press") this.click(drag.id, t);
    this.render();
  }

  /**
   * A click: the cursor goes there, and the region clicked (or none) is selected.
   * @param {string | null} id
   * @param {number} t
   */
  click(id, t) {
    this.selected = id;
    this.onSelect(id);
    this.cursor = Math.min(this.bounds.end, Math.max(this.bounds.start, t));
    this.onSeek(this.cursor);
  }

  /**
   * The region around `t` (the selected one first), if any.
   * @param {number} t
   * @returns {string | null}
   */
  regionAt(t) {
    const around = this.regions.filter((r) => r.start <= t && t <= r.end);
    return (around.find((r) => r.id === this.selected) ?? around[0])?.id ?? null;
  }

  /** @param {WheelEvent} e */
  wheel(e) {
    e.preventDefault();
    const { x } = this.point(e);
    const delta = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? 400 : 1; // lines, pages: pixels
    if (e.ctrlKey || e.metaKey) {
      this.view = zoomView(this.view, Math.exp(-e.deltaY * delta * 0.002), xToTime(this.view, x), this.bounds);
    } else {
      const pixels = (Math.abs(e.deltaX) > Math.abs(e.deltaY) ? e.deltaX : e.deltaY) * delta;
      this.view = scrollView(this.view, (pixels / this.view.width) * (this.view.end - this.view.start), this.bounds);
    }
    this.render();
  }

  // ----- drawing ------------------------------------------------------------------------------

  resize() {
    const rect = this.canvas.getBoundingClientRect();
    this.canvas.width = Math.max(1, Math.round(rect.width * devicePixelRatio));
    this.canvas.height = Math.max(1, Math.round(rect.height * devicePixelRatio));
    this.render();
  }

  render() {
    const layout = this.layout();
    this.view = { ...this.view, width: Math.max(1, layout.width) };
    const { ctx } = this;
    const view = this.view;
    const style = getComputedStyle(this.canvas);
    const muted = style.getPropertyValue("--muted").trim() || "#9aa1b2";
    const text = style.getPropertyValue("--text").trim() || "#e6e8ee";
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.setTransform(devicePixelRatio, 0, 0, devicePixelRatio, 0, 0);
    const top = layout.ruler;
    const middle = (top + layout.height) / 2;
    const half = (layout.height - top) / 2 - 2;

    // Regions under the waveform, so the peaks stay readable over them.
    const { lane, count } = lanes(this.regions);
    for (const r of this.regions) {
      const box = regionBox(r, lane.get(r.id) ?? 0, count, view, layout);
      if (box.x1 < 0 || box.x0 > view.width) continue;
      const color = eventColor(r.event);
      const chosen = r.id === this.selected;
      ctx.fillStyle = color + (chosen ? "55" : "26");
      ctx.fillRect(box.x0, box.y0, box.x1 - box.x0, box.y1 - box.y0);
      ctx.fillStyle = color;
      ctx.fillRect(box.x0, box.y0, 1.5, box.y1 - box.y0);
      ctx.fillRect(box.x1 - 1.5, box.y0, 1.5, box.y1 - box.y0);
      if (chosen) {
        ctx.strokeStyle = color;
        ctx.lineWidth = 2;
        ctx.strokeRect(box.x0 + 1, box.y0 + 1, box.x1 - box.x0 - 2, box.y1 - box.y0 - 2);
        ctx.fillRect(box.x0 - 2, box.y0, 5, 10);
        ctx.fillRect(box.x1 - 3, box.y0, 5, 10);
      }
      if (r.label && box.x1 - box.x0 > 30) {
        ctx.fillStyle = text;
        ctx.font = "11px system-ui, sans-serif";
        ctx.fillText(r.label, Math.max(box.x0, 0) + 4, box.y0 + 12, Math.max(10, box.x1 - Math.max(box.x0, 0) - 8));
      }
    }

    // The peaks, a bar a column.
    if (this.peaks) {
      const peaks = columns(this.peaks, view);
      ctx.fillStyle = muted;
      for (let x = 0; x < peaks.length / 2; x++) {
        const y0 = middle - peaks[2 * x + 1] * half;
        const y1 = middle - peaks[2 * x] * half;
        ctx.fillRect(x, y0, 1, Math.max(1, y1 - y0));
      }
    } else {
      ctx.fillStyle = muted;
      ctx.fillRect(0, middle, view.width, 1);
    }

    // The region being drawn.
    const drag = this.drag;
    if (drag?.kind === "draw") {
      const span = spanBetween(drag.from, drag.to, this.bounds);
      ctx.fillStyle = text + "33";
      ctx.fillRect(timeToX(view, span.start), top, timeToX(view, span.end) - timeToX(view, span.start), layout.height - top);
    }

    // The ruler.
    ctx.fillStyle = style.getPropertyValue("--panel").trim() || "#1e2129";
    ctx.fillRect(0, 0, view.width, top);
    ctx.fillStyle = muted;
    ctx.font = "10px ui-monospace, monospace";
    for (const tick of ticks(view)) {
      const x = timeToX(view, tick.t);
      ctx.fillRect(x, top - 6, 1, 6);
      ctx.fillText(tick.label, x + 3, top - 8);
    }

    // The play cursor.
    if (this.cursor >= view.start && this.cursor <= view.end) {
      ctx.fillStyle = text;
      ctx.fillRect(timeToX(view, this.cursor) - 0.5, 0, 1.5, layout.height);
    }
  }
}
