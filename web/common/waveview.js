// @ts-check
// The waveform's geometry, as plain functions on plain data (no DOM), so that what the
// waveform tool draws and where a pointer lands can be checked on their own: the peaks file
// decoded and read per pixel column, time to pixels and back, zoom and scroll within the
// part, regions laid out in lanes (speech of two speakers may overlap), hit tests, edges
// dragged, ruler ticks and clock times. waveform.js draws with these and wires the pointer.

/**
 * One level of the peaks file: an (min, max) int8 pair per `step` samples.
 * @typedef {{ step: number, data: Int8Array }} PeakLevel
 */
/** @typedef {{ sampleRate: number, duration: number, levels: PeakLevel[] }} Peaks */
/**
 * The peaks file as ingest writes it (docs/media.md).
 * @typedef {{ sample_rate: number, duration_s: number, levels: { step: number, data: string }[] }} PeaksFile
 */
/** A stretch of the recording, in seconds from its start. @typedef {{ start: number, end: number }} Span */
/** What is on screen: a stretch of the part, `width` CSS pixels wide. @typedef {{ start: number, end: number, width: number }} View */
/** @typedef {{ width: number, height: number, ruler: number }} Layout */
/**
 * A region as the waveform shows it: an id, its times, the event class that colours it, and an
 * optional short label (a speaker).
 * @typedef {{ id: string, start: number, end: number, event: string, label?: string }} Region
 */
/**
 * What is under the pointer: a region's edge, a region, the time ruler, or nothing.
 * @typedef {{ kind: "edge", id: string, side: "start" | "end" } | { kind: "region", id: string }
 *   | { kind: "ruler" } | { kind: "empty" }} Hit
 */
/** A region's rectangle on the canvas, in CSS pixels. @typedef {{ x0: number, x1: number, y0: number, y1: number }} Box */

export const MIN_SPAN_S = 0.25; // the closest zoom: a quarter second across the canvas
export const MIN_REGION_S = 0.02; // a region is at least 20 ms long
export const EDGE_PX = 5; // an edge is grabbed this close

// ----- peaks ----------------------------------------------------------------------------------

/**
 * The peaks file decoded: each level's base64 as int8 (min, max) pairs.
 * @param {PeaksFile} file
 * @returns {Peaks}
 */
export function decodePeaks(file) {
  const levels = file.levels
    .map((level) => {
      const bytes = Uint8Array.from(atob(level.data), (c) => c.charCodeAt(0));
      return { step: level.step, data: new Int8Array(bytes.buffer) };
    })
    .sort((a, b) => a.step - b.step);
  return { sampleRate: file.sample_rate, duration: file.duration_s, levels };
}

/**
 * The level to draw from: the one whose step is closest below the samples a pixel covers
 * (the finest when a pixel covers less than any step).
 * @param {PeakLevel[]} levels sorted by step
 * @param {number} samplesPerPixel
 * @returns {PeakLevel | null}
 */
export function pickLevel(levels, samplesPerPixel) {
  let chosen = levels[0] ?? null;
  for (const level of levels) if (level.step <= samplesPerPixel) chosen = level;
  return chosen;
}

/**
 * The (min, max) of each pixel column of `view`, in [-1, 1]: `out[2x]` the min, `out[2x+1]`
 * the max; a column past the recording's end holds (0, 0).
 * @param {Peaks} peaks
 * @param {View} view
 * @returns {Float32Array}
 */
export function columns(peaks, view) {
  const width = Math.max(0, Math.floor(view.width));
  const out = new Float32Array(width * 2);
  const perPixel = ((view.end - view.start) * peaks.sampleRate) / Math.max(1, width);
  const level = pickLevel(peaks.levels, perPixel);
  if (!level) return out;
  const pairs = level.data.length / 2;
  for (let x = 0; x < width; x++) {
    const s0 = (view.start + ((view.end - view.start) * x) / width) * peaks.sampleRate;
    const s1 = (view.start + ((view.end - view.start) * (x + 1)) / width) * peaks.sampleRate;
    const i0 = Math.max(0, Math.floor(s0 / level.step));
    const i1 = Math.min(pairs, Math.max(i0 + 1, Math.ceil(s1 / level.step)));
    let low = 127;
    let high = -127;
    for (let i = i0; i < i1; i++) {
      low = Math.min(low, level.data[2 * i]);
      high = Math.max(high, level.data[2 * i + 1]);
    }
    if (i0 >= i1) low = high = 0;
    out[2 * x] = low / 127;
    out[2 * x + 1] = high / 127;
  }
  return out;
}

// ----- time and pixels ------------------------------------------------------------------------

/**
 * @param {View} view
 * @param {number} t seconds
 */
export function timeToX(view, t) {
  return ((t - view.start) / (view.end - view.start)) * view.width;
}

/**
 * @param {View} view
 * @param {number} x CSS pixels from the canvas's left
 */
export function xToTime(view, x) {
  return view.start + (x / view.width) * (view.end - view.start);
}

/**
 * @param {number} value
 * @param {number} low
 * @param {number} high
 */
export function clamp(value, low, high) {
  return Math.min(high, Math.max(low, value));
}

/**
 * The view moved back inside `bounds` (the part), no wider than it and no narrower than
 * `MIN_SPAN_S` (or the part, when shorter).
 * @param {View} view
 * @param {Span} bounds
 * @returns {View}
 */
export function clampView(view, bounds) {
  const whole = bounds.end - bounds.start;
  const span = clamp(view.end - view.start, Math.min(MIN_SPAN_S, whole), whole);
  const start = clamp(view.start, bounds.start, bounds.end - span);
  return { start, end: start + span, width: view.width };
}

/**
 * Zoom by `factor` (above 1: closer) keeping time `around` where it is on screen.
 * @param {View} view
 * @param {number} factor
 * @param {number} around seconds
 * @param {Span} bounds
 * @returns {View}
 */
export function zoomView(view, factor, around, bounds) {
  const at = clamp((around - view.start) / (view.end - view.start), 0, 1);
  const whole = bounds.end - bounds.start;
  const span = clamp((view.end - view.start) / factor, Math.min(MIN_SPAN_S, whole), whole);
  return clampView({ start: around - at * span, end: around - at * span + span, width: view.width }, bounds);
}

/**
 * @param {View} view
 * @param {number} seconds on (or back, when negative)
 * @param {Span} bounds
 * @returns {View}
 */
export function scrollView(view, seconds, bounds) {
  return clampView({ start: view.start + seconds, end: view.end + seconds, width: view.width }, bounds);
}

/**
 * The view moved as little as needed to show `span` (its start, when it is wider than the
 * view; with a margin of a tenth of the view when it has to move).
 * @param {View} view
 * @param {Span} span
 * @param {Span} bounds
 * @returns {View}
 */
export function revealView(view, span, bounds) {
  const width = view.end - view.start;
  if (span.start >= view.start && span.end <= view.end) return view;
  const margin = width / 10;
  const start = span.end - span.start > width - 2 * margin || span.start < view.start ? span.start - margin : span.end + margin - width;
  return clampView({ start, end: start + width, width: view.width }, bounds);
}

// ----- regions --------------------------------------------------------------------------------

/**
 * Lanes for overlapping regions: each region in the first lane free at its start.
 * @param {readonly Region[]} regions
 * @returns {{ lane: Map<string, number>, count: number }}
 */
export function lanes(regions) {
  const sorted = [...regions].sort((a, b) => a.start - b.start || a.end - b.end);
  /** @type {number[]} */
  const ends = [];
  /** @type {Map<string, number>} */
  const lane = new Map();
  for (const r of sorted) {
    let i = ends.findIndex((end) => end <= r.start + 1e-9);
    if (i < 0) i = ends.push(r.end) - 1;
    else ends[i] = r.end;
    lane.set(r.id, i);
  }
  return { lane, count: Math.max(1, ends.length) };
}

/**
 * Where a region is drawn: its times across, its lane of the waveform area down.
 * @param {Region} region
 * @param {number} lane
 * @param {number} count lanes in all
 * @param {View} view
 * @param {Layout} layout
 * @returns {Box}
 */
export function regionBox(region, lane, count, view, layout) {
  const height = (layout.height - layout.ruler) / count;
  return {
    x0: timeToX(view, region.start),
    x1: timeToX(view, region.end),
    y0: layout.ruler + lane * height,
    y1: layout.ruler + (lane + 1) * height,
  };
}

/**
 * What is at (x, y): an edge of a region (the selected region's first, then the nearest),
 * a region's body, the ruler, or nothing.
 * @param {readonly Region[]} regions
 * @param {string | null} selected
 * @param {View} view
 * @param {Layout} layout
 * @param {number} x
 * @param {number} y
 * @returns {Hit}
 */
export function hitTest(regions, selected, view, layout, x, y) {
  if (y < layout.ruler) return { kind: "ruler" };
  const { lane, count } = lanes(regions);
  /** @type {{ id: string, side: "start" | "end", distance: number } | null} */
  let edge = null;
  /** @type {string | null} */
  let body = null;
  for (const r of regions) {
    const box = regionBox(r, lane.get(r.id) ?? 0, count, view, layout);
    if (y < box.y0 || y > box.y1) continue;
    for (const side of /** @type {const} */ (["start", "end"])) {
      const distance = Math.abs(x - (side === "start" ? box.x0 : box.x1));
      if (distance > EDGE_PX) continue;
      const better =
        !edge ||
        (r.id === selected && edge.id !== selected) ||
        ((r.id === selected) === (edge.id === selected) && distance < edge.distance);
      if (better) edge = { id: r.id, side, distance };
    }
    if (x >= box.x0 && x <= box.x1 && (body === null || r.id === selected)) body = r.id;
  }
  if (edge) return { kind: "edge", id: edge.id, side: edge.side };
  if (body !== null) return { kind: "region", id: body };
  return { kind: "empty" };
}

/**
 * A region with one edge dragged to `t`: kept inside the part and at least `MIN_REGION_S`
 * long (the other edge stays).
 * @param {Span} region
 * @param {"start" | "end"} side
 * @param {number} t
 * @param {Span} bounds
 * @returns {Span}
 */
export function moveEdge(region, side, t, bounds) {
  if (side === "start") return { start: clamp(t, bounds.start, region.end - MIN_REGION_S), end: region.end };
  return { start: region.start, end: clamp(t, region.start + MIN_REGION_S, bounds.end) };
}

/**
 * The span between two times in either order, inside the part.
 * @param {number} a
 * @param {number} b
 * @param {Span} bounds
 * @returns {Span}
 */
export function spanBetween(a, b, bounds) {
  return { start: clamp(Math.min(a, b), bounds.start, bounds.end), end: clamp(Math.max(a, b), bounds.start, bounds.end) };
}

// ----- ruler and clock ------------------------------------------------------------------------

const STEPS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];

/**
 * The ruler's tick spacing: the smallest round step at least `minPx` apart on screen.
 * @param {View} view
 * @param {number} [minPx]
 */
export function tickStep(view, minPx = 70) {
  const perSecond = view.width / Math.max(1e-9, view.end - view.start);
  return STEPS.find((s) => s * perSecond >= minPx) ?? STEPS[STEPS.length - 1];
}

/**
 * The ruler's ticks: each round time in view, and its label.
 * @param {View} view
 * @returns {{ t: number, label: string }[]}
 */
export function ticks(view) {
  const step = tickStep(view);
  const decimals = step >= 1 ? 0 : step >= 0.1 ? 1 : 2;
  const out = [];
  for (let n = Math.ceil(view.start / step - 1e-9); n * step <= view.end + 1e-9; n++) {
    out.push({ t: n * step, label: clock(n * step, decimals) });
  }
  return out;
}

/**
 * A time as m:ss.ff (h:mm:ss.ff past an hour).
 * @param {number} seconds
 * @param {number} [decimals]
 */
export function clock(seconds, decimals = 2) {
  const scale = 10 ** decimals;
  const total = Math.round(Math.max(0, seconds) * scale) / scale;
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = (total % 60).toFixed(decimals).padStart(decimals ? decimals + 3 : 2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}
