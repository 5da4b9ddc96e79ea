// @ts-check
// A clip's timeline, shared by the labeling page and the review desk: the frame slider, play
// and pause at the video's rate, a frame back and on, and the strip that shows each track's
// keyframes (ticks), the frames it is in (a lighter band) and the current frame (a line).
// The page owns what a frame shows: the timeline calls `onShow(frame)`.
import { colorOf } from "/ui/common/canvas.js";
import { byId as $ } from "/ui/common/common.js";
import { shapeAt } from "/ui/common/tracks.js";

/** @typedef {import("/ui/common/tracks.js").TrackSet} TrackSet */

export class Timeline {
  /** @param {(frame: number) => void} onShow */
  constructor(onShow) {
    this.onShow = onShow;
    this.start = 0;
    this.stop = 1;
    this.fps = 25;
    this.frame = 0;
    /** @type {number | null} */
    this.playing = null;
    $("frame-slider").addEventListener("input", () => this.onShow(Number($("frame-slider", HTMLInputElement).value)));
    $("play").addEventListener("click", () => this.togglePlay());
    $("frame-back").addEventListener("click", () => this.step(-1));
    $("frame-forward").addEventListener("click", () => this.step(1));
    $("markers").addEventListener("click", (e) => {
      const box = $("markers").getBoundingClientRect();
      const share = (/** @type {MouseEvent} */ (e).clientX - box.left) / box.width;
      this.pause();
      this.onShow(Math.round(this.start + share * (this.stop - 1 - this.start)));
    });
  }

  /**
   * @param {number} start the clip's first frame
   * @param {number} stop one past its last
   * @param {number} fps
   */
  open(start, stop, fps) {
    this.pause();
    this.start = start;
    this.stop = stop;
    this.fps = fps || 25;
    const slider = $("frame-slider", HTMLInputElement);
    slider.min = String(start);
    slider.max = String(stop - 1);
    $("timeline").hidden = false;
  }

  close() {
    this.pause();
    $("timeline").hidden = true;
  }

  /** @param {number} frame */
  clamp(frame) {
    return Math.max(this.start, Math.min(this.stop - 1, frame));
  }

  /**
   * After the page showed `frame`: the slider, the label and the strip follow.
   * @param {number} frame
   * @param {string} label
   * @param {TrackSet} tracks
   */
  shown(frame, label, tracks) {
    this.frame = frame;
    $("frame-slider", HTMLInputElement).value = String(frame);
    $("frame-number").textContent = label;
    drawKeyframes($("markers", HTMLCanvasElement), tracks, this.start, this.stop, frame);
  }

  /** @param {number} n frames on (or back, when negative) */
  step(n) {
    this.pause();
    this.onShow(this.clamp(this.frame + n));
  }

  togglePlay() {
    if (this.playing !== null) return this.pause();
    if (this.frame >= this.stop - 1) this.onShow(this.start);
    $("play").textContent = "❚❚";
    this.playing = window.setInterval(() => {
      if (this.frame >= this.stop - 1) return this.pause();
      this.onShow(this.frame + 1);
    }, 1000 / Math.max(1, Math.min(60, this.fps)));
  }

  pause() {
    if (this.playing !== null) window.clearInterval(this.playing);
    this.playing = null;
    $("play").textContent = "▶";
  }
}

/**
 * Each track's row on the strip: the frames it is in, its keyframes, and the current frame.
 * @param {HTMLCanvasElement} canvas
 * @param {TrackSet} set
 * @param {number} start
 * @param {number} stop
 * @param {number} frame
 */
export function drawKeyframes(canvas, set, start, stop, frame) {
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  canvas.width = Math.max(1, Math.round(canvas.getBoundingClientRect().width));
  const tracks = [...set.tracks.values()];
  const row = 10;
  canvas.height = Math.max(row, tracks.length * row);
  const x = (/** @type {number} */ f) => ((f - start) / Math.max(1, stop - 1 - start)) * (canvas.width - 4) + 2;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  tracks.forEach((track, i) => {
    const color = colorOf(track.keyframes[0].shape.class_id);
    ctx.globalAlpha = set.hidden.has(track.track_id) ? 0.3 : 1;
    ctx.fillStyle = color + "55";
    for (let f = start; f < stop; f++) if (shapeAt(track, f)) ctx.fillRect(x(f) - 1, i * row + 3, 3, row - 6);
    ctx.fillStyle = color;
    for (const k of track.keyframes) {
      if (k.frame >= start && k.frame < stop) ctx.fillRect(x(k.frame) - 1.5, i * row + 1, 3, row - 2);
    }
  });
  ctx.globalAlpha = 1;
  ctx.fillStyle = "#fff";
  ctx.fillRect(x(frame) - 0.5, 0, 1, canvas.height);
}
