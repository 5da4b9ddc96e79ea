// @ts-check
// The labeling workspace's video mode: a clip's frames under the canvas, a timeline with each
// track's keyframes, playback and frame stepping, the track list (hide, lock, leave, occluded)
// and tracker help. What is drawn on a frame becomes a keyframe of its track there; the frames
// between keyframes are interpolated (dashed) by tracks.js, as the server does.
import { colorOf, loadImage } from "/ui/common/canvas.js";
import { api, byId as $, clear, el, messageOf, toast } from "/ui/common/common.js";
import { Timeline } from "/ui/common/timeline.js";
import { TrackSet, shapeAt } from "/ui/common/tracks.js";

/** @typedef {import("/ui/common/canvas.js").ImageCanvas} ImageCanvas */
/** @typedef {import("/ui/common/canvas.js").Shape} Shape */
/** @typedef {import("/ui/common/canvas.js").OntologyClass} OntologyClass */
/** @typedef {import("/ui/common/tracks.js").Track} Track */
/** @typedef {import("/ui/common/tracks.js").TrackShape} TrackShape */
/**
 * A video task's clip, as dispatch gives it.
 * @typedef {{ fps: number, width: number, height: number,
 *   clip: { index: number, start: number, stop: number, count: number, frames: number },
 *   frames: string[] }} VideoView
 */
/** @typedef {{ frame: number, boxes: [number, number, number, number][], lost: boolean }} Proposals */

const TRACK_AHEAD = 30; // frames tracker help proposes at a time

/**
 * A shape as the API takes it: without the workspace's marks.
 * @param {Shape} shape
 * @returns {TrackShape}
 */
function clean(shape) {
  const copy = { ...shape };
  delete copy.track_id;
  delete copy.interpolated;
  return /** @type {TrackShape} */ (copy);
}

/**
 * The same drawing: geometry, class and attributes, whatever the key order.
 * @param {unknown} a
 * @param {unknown} b
 */
function same(a, b) {
  /** @param {unknown} v @returns {unknown} */
  const canon = (v) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => x.localeCompare(y)).map(([k, w]) => [k, canon(w)]))
      : Array.isArray(v) ? v.map(canon) : v;
  return JSON.stringify(canon(a)) === JSON.stringify(canon(b));
}

export class VideoWorkspace {
  /** @param {ImageCanvas} canvas */
  constructor(canvas) {
    this.canvas = canvas;
    this.tracks = new TrackSet();
    /** @type {HTMLImageElement[]} */
    this.pictures = [];
    /** @type {VideoView | null} */
    this.video = null;
    this.itemId = "";
    this.frame = 0;
    /** @type {Map<number, OntologyClass>} */
    this.classes = new Map();
    this.timeline = new Timeline((frame) => this.show(frame));
    $("track-forward").addEventListener("click", () => this.trackForward());
    $("leave").addEventListener("click", () => this.leaveSelected());
    $("occluded").addEventListener("click", () => this.toggleOccluded());
  }

  /**
   * Open a video task: its frames loaded, the tracks of a rework (or else of an import) to start from.
   * @param {{ item_id: string, classes: OntologyClass[], video: VideoView, previous_tracks?: { tracks: Track[] } | null, pre_tracks?: { tracks: Track[] } | null }} task
   */
  async open(task) {
    this.video = task.video;
    this.itemId = task.item_id;
    this.classes = new Map(task.classes.map((c) => [c.id, c]));
    this.tracks = new TrackSet(task.previous_tracks?.tracks || task.pre_tracks?.tracks || []);
    this.pictures = await Promise.all(task.video.frames.map((url) => loadImage(url)));
    const { start, stop } = task.video.clip;
    this.timeline.open(start, stop, task.video.fps);
    $("tracks-box").hidden = false;
    this.frame = start;
    await this.canvas.load(task.video.frames[0], task.video.width, task.video.height, this.tracks.shapesAt(start));
    this.show(start);
  }

  close() {
    this.timeline.close();
    this.video = null;
    $("tracks-box").hidden = true;
  }

  /** @returns {{ tracks: Track[] }} the tracks drawn, as the API takes them */
  submission() {
    const { tracks } = this.tracks.toJSON();
    return { tracks: tracks.map((t) => ({ ...t, keyframes: t.keyframes.map((k) => ({ ...k, shape: clean(k.shape) })) })) };
  }

  // ----- frames ------------------------------------------------------------------------------

  /** @param {number} frame */
  show(frame) {
    const video = this.video;
    if (!video) return;
    const { start, stop } = video.clip;
    this.frame = Math.max(start, Math.min(stop - 1, frame));
    this.canvas.showFrame(this.pictures[this.frame - start], this.tracks.shapesAt(this.frame));
    const label = `frame ${this.frame + 1} of ${video.clip.frames} · clip ${video.clip.index + 1} of ${video.clip.count}`;
    this.timeline.shown(this.frame, label, this.tracks);
    this.listTracks();
  }

  /** @param {number} n */
  step(n) {
    this.timeline.step(n);
  }

  /** @param {1 | -1} direction */
  jump(direction) {
    const to = this.tracks.nextKeyframe(this.frame, direction);
    if (to !== null) this.step(to - this.frame);
  }

  togglePlay() {
    this.timeline.togglePlay();
  }

  // ----- editing -----------------------------------------------------------------------------

  /**
   * After an edit on the canvas: each shape drawn or changed on this frame becomes a keyframe
   * of its track (a new shape, a new track); a track whose shape was deleted leaves here.
   * @param {Shape[]} shapes
   */
  changed(shapes) {
    if (!this.video) return;
    const frame = this.frame;
    const present = new Set();
    for (const shape of shapes) {
      if (shape.kind === "classification") continue;
      const id = shape.track_id;
      const track = id ? this.tracks.tracks.get(id) : undefined;
      if (id && track) {
        present.add(id);
        const here = shapeAt(track, frame);
        if (!here || !same(clean(here.shape), clean(shape))) {
          this.tracks.setKeyframe(id, { frame, shape: clean(shape), occluded: here?.occluded });
        }
      } else {
        present.add(this.tracks.add(frame, clean(shape)));
      }
    }
    for (const t of this.tracks.at(frame)) {
      if (!present.has(t.track_id)) this.tracks.leave(t.track_id, frame);
    }
    this.show(frame);
  }

  /** The selected shape's track, if any. */
  selectedTrack() {
    const shape = this.canvas.shapes[this.canvas.selected];
    return shape?.track_id ?? null;
  }

  leaveSelected() {
    const id = this.selectedTrack();
    if (!id) return toast("Select a shape first.");
    this.tracks.leave(id, this.frame);
    this.canvas.select(-1);
    this.show(this.frame);
  }

  toggleOccluded() {
    const id = this.selectedTrack();
    if (!id) return toast("Select a shape first.");
    this.tracks.toggleOccluded(id, this.frame);
    this.show(this.frame);
  }

  /** Tracker help (assist): the selected box followed through the next frames of the clip, each a keyframe. */
  async trackForward() {
    const id = this.selectedTrack();
    const video = this.video;
    const track = id ? this.tracks.tracks.get(id) : undefined;
    const here = track && shapeAt(track, this.frame);
    if (!id || !video || !here || here.shape.kind !== "bbox") return toast("Select a box to follow.");
    const ahead = Math.min(TRACK_AHEAD, video.clip.stop - this.frame - 1);
    if (ahead < 1) return toast("This is the clip's last frame: nothing after it to follow.");
    $("track-forward", HTMLButtonElement).disabled = true;
    try {
      const found = /** @type {Proposals} */ (
        await api("assist", "POST", "/v1/assist/track", {
          item_id: this.itemId,
          frame: this.frame,
          bbox: here.shape.bbox,
          frames: ahead,
          method: $("tracker", HTMLSelectElement).value,
        })
      );
      this.tracks.setKeyframe(id, { frame: this.frame, shape: clean(here.shape), occluded: here.occluded });
      found.boxes.forEach((bbox, n) => {
        this.tracks.setKeyframe(id, { frame: this.frame + 1 + n, shape: { ...clean(here.shape), kind: "bbox", bbox } });
      });
      if (found.lost) toast("The tracker lost the object: draw it where it is and follow it again.");
      this.show(this.frame + found.boxes.length);
    } catch (error) {
      toast(messageOf(error), "error");
    } finally {
      $("track-forward", HTMLButtonElement).disabled = false;
    }
  }

  // ----- panels ------------------------------------------------------------------------------

  listTracks() {
    const rows = [...this.tracks.tracks.values()].map((track) => {
      const id = track.track_id;
      const cls = this.classes.get(track.keyframes[0].shape.class_id);
      const here = shapeAt(track, this.frame);
      const hide = el("input", { type: "checkbox", checked: this.tracks.hidden.has(id), title: "hide" });
      hide.addEventListener("change", () => {
        if (hide.checked) this.tracks.hidden.add(id);
        else this.tracks.hidden.delete(id);
        this.show(this.frame);
      });
      const lock = el("input", { type: "checkbox", checked: this.tracks.locked.has(id), title: "lock" });
      lock.addEventListener("change", () => {
        if (lock.checked) this.tracks.locked.add(id);
        else this.tracks.locked.delete(id);
      });
      const state = here ? (here.keyframe ? "keyframe" : "interpolated") + (here.occluded ? ", occluded" : "") : "not in view";
      return el(
        "div",
        { class: "track-row", dataset: { trackId: id } },
        el("span", { class: "swatch", style: { background: colorOf(track.keyframes[0].shape.class_id) } }),
        el("b", {}, id),
        ` ${cls?.name ?? ""} · ${track.keyframes.length} keyframes · ${state} `,
        el("label", {}, hide, " hide"),
        el("label", {}, lock, " lock"),
      );
    });
    clear($("tracks"), rows.length ? rows : el("span", { class: "muted" }, "Draw a shape to start a track."));
  }
}
