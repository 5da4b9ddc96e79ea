// @ts-check
// The review desk's video mode: the clip played with the submitted tracks over it (dashed
// where interpolated), to accept, or to reject with the track and frames at fault.
import { loadImage } from "/ui/common/canvas.js";
import { byId as $, clear, el } from "/ui/common/common.js";
import { Timeline } from "/ui/common/timeline.js";
import { TrackSet } from "/ui/common/tracks.js";

/** @typedef {import("/ui/common/canvas.js").ImageCanvas} ImageCanvas */
/** @typedef {import("/ui/common/tracks.js").Track} Track */
/**
 * A clip under review, as the review service gives it.
 * @typedef {{ clip: { start: number, stop: number, index?: number, fps?: number, frames?: number }, frames: string[],
 *   tracks: { tracks: Track[] } | null, image: { width: number, height: number } }} ClipUnit
 */

export class ClipPlayer {
  /** @param {ImageCanvas} canvas */
  constructor(canvas) {
    this.canvas = canvas;
    this.tracks = new TrackSet();
    /** @type {HTMLImageElement[]} */
    this.pictures = [];
    this.start = 0;
    this.frame = 0;
    this.total = 0;
    this.timeline = new Timeline((frame) => this.show(frame));
    $("mark-first").addEventListener("click", () => ($("reject-first", HTMLInputElement).value = String(this.frame + 1)));
    $("mark-last").addEventListener("click", () => ($("reject-last", HTMLInputElement).value = String(this.frame + 1)));
  }

  /** @param {ClipUnit} unit */
  async open(unit) {
    const { start, stop } = unit.clip;
    this.start = start;
    this.total = unit.clip.frames || stop;
    this.tracks = new TrackSet(unit.tracks?.tracks || []);
    this.pictures = await Promise.all(unit.frames.map((url) => loadImage(url)));
    this.timeline.open(start, stop, unit.clip.fps || 25);
    await this.canvas.load(unit.frames[0], unit.image.width, unit.image.height, []);
    $("video-reject").hidden = false;
    clear(
      $("reject-track"),
      el("option", { value: "" }, "the whole clip"),
      [...this.tracks.tracks.keys()].map((id) => el("option", { value: id }, `track ${id}`)),
    );
    $("reject-first", HTMLInputElement).value = "";
    $("reject-last", HTMLInputElement).value = "";
    this.show(start);
  }

  /**
   * Play other tracks over the clip (a disputed clip's versions, one at a time).
   * @param {Track[]} tracks
   */
  useTracks(tracks) {
    this.tracks = new TrackSet(tracks);
    this.show(this.frame);
  }

  close() {
    this.timeline.close();
    $("video-reject").hidden = true;
  }

  /** @param {number} frame */
  show(frame) {
    this.frame = this.timeline.clamp(frame);
    this.canvas.showFrame(this.pictures[this.frame - this.start], this.tracks.shapesAt(this.frame));
    this.timeline.shown(this.frame, `frame ${this.frame + 1} of ${this.total}`, this.tracks);
  }

  /** @returns {{ track_id?: string, frames?: [number, number] }} the part of the clip a rejection points at */
  rejected() {
    const track = $("reject-track", HTMLSelectElement).value;
    const from = Number($("reject-first", HTMLInputElement).value);
    const to = Number($("reject-last", HTMLInputElement).value);
    return {
      ...(track ? { track_id: track } : {}),
      ...(from && to ? { frames: /** @type {[number, number]} */ ([from - 1, to - 1]) } : {}),
    };
  }
}
