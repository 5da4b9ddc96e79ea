// @ts-check
// Tracks through a video's frames, in the browser: the same interpolation as the server's
// shared/domain/tracks.py (tests/corpus/tracks/interpolation.json holds both to the same
// numbers), and the set of tracks a person edits frame by frame.
//
// Rules: before a track's first keyframe, and from a keyframe marked `outside` until the next
// one that is not, the object is absent. Between two inside keyframes each coordinate moves
// linearly with the frame (boxes always; polygons and polylines with as many points; keypoints
// where both ends are labeled); what cannot move holds the earlier keyframe's value, as do the
// class, attributes, visibility and `occluded`. After the last keyframe the object stays.

/** @typedef {import("/ui/common/canvas.js").Shape} Shape */
/** @typedef {Exclude<Shape, { kind: "classification" }>} TrackShape */
/** @typedef {{ frame: number, shape: TrackShape, outside?: boolean, occluded?: boolean }} Keyframe */
/** @typedef {{ track_id: string, keyframes: Keyframe[] }} Track */
/** A track's shape in one frame. @typedef {{ frame: number, shape: TrackShape, keyframe: boolean, occluded: boolean }} TrackFrame */

/**
 * @param {number} a
 * @param {number} b
 * @param {number} t
 */
const lerp = (a, b, t) => a + (b - a) * t;

/**
 * The shape a fraction `t` of the way from `a` to `b`.
 * @param {TrackShape} a
 * @param {TrackShape} b
 * @param {number} t
 * @returns {TrackShape}
 */
export function interpolate(a, b, t) {
  if (a.kind === "bbox" && b.kind === "bbox") {
    const [x, y, w, h] = a.bbox.map((v, i) => lerp(v, b.bbox[i], t));
    return { ...a, bbox: [x, y, w, h] };
  }
  if ((a.kind === "polygon" || a.kind === "polyline") && (b.kind === "polygon" || b.kind === "polyline")) {
    if (a.points.length !== b.points.length) return a;
    return { ...a, points: a.points.map((p, i) => [lerp(p[0], b.points[i][0], t), lerp(p[1], b.points[i][1], t)]) };
  }
  if (a.kind === "keypoints" && b.kind === "keypoints") {
    if (a.keypoints.length !== b.keypoints.length) return a;
    return {
      ...a,
      keypoints: a.keypoints.map((p, i) => {
        const q = b.keypoints[i];
        return p[2] && q[2] ? [lerp(p[0], q[0], t), lerp(p[1], q[1], t), p[2]] : p;
      }),
    };
  }
  return a;
}

/**
 * @param {Keyframe} before
 * @param {Keyframe | undefined} after
 * @param {number} frame
 * @returns {TrackFrame | null}
 */
function between(before, after, frame) {
  if (before.outside) return null;
  const occluded = Boolean(before.occluded);
  if (frame === before.frame) return { frame, shape: before.shape, keyframe: true, occluded };
  let shape = before.shape;
  if (after && !after.outside) shape = interpolate(before.shape, after.shape, (frame - before.frame) / (after.frame - before.frame));
  return { frame, shape, keyframe: false, occluded };
}

/**
 * The track's shape in `frame`, or null where the object is absent.
 * @param {Track} track
 * @param {number} frame
 * @returns {TrackFrame | null}
 */
export function shapeAt(track, frame) {
  const keys = track.keyframes;
  let i = -1;
  for (let lo = 0, hi = keys.length - 1; lo <= hi; ) {
    const mid = (lo + hi) >> 1;
    if (keys[mid].frame <= frame) {
      i = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return i < 0 ? null : between(keys[i], keys[i + 1], frame);
}

/** The tracks a person edits: keyframes set, tracks hidden or locked, in the API's form. */
export class TrackSet {
  /** @param {Track[]} [tracks] */
  constructor(tracks = []) {
    /** @type {Map<string, Track>} */
    this.tracks = new Map(tracks.map((t) => [t.track_id, structuredClone(t)]));
    /** @type {Set<string>} */
    this.hidden = new Set();
    /** @type {Set<string>} */
    this.locked = new Set();
    this.made = tracks.length;
  }

  /**
   * Every track's shape in `frame` (hidden ones left out).
   * @param {number} frame
   * @returns {(TrackFrame & { track_id: string })[]}
   */
  at(frame) {
    const found = [];
    for (const track of this.tracks.values()) {
      if (this.hidden.has(track.track_id)) continue;
      const here = shapeAt(track, frame);
      if (here) found.push({ ...here, track_id: track.track_id });
    }
    return found;
  }

  /**
   * The shapes to draw on `frame`, each marked with its track and whether it is interpolated.
   * @param {number} frame
   * @returns {Shape[]}
   */
  shapesAt(frame) {
    return this.at(frame).map((t) => ({ ...t.shape, track_id: t.track_id, interpolated: !t.keyframe }));
  }

  /**
   * A new track starting with `shape` at `frame`; its id.
   * @param {number} frame
   * @param {TrackShape} shape
   */
  add(frame, shape) {
    let id;
    do id = `t${++this.made}`;
    while (this.tracks.has(id));
    this.tracks.set(id, { track_id: id, keyframes: [{ frame, shape }] });
    return id;
  }

  /**
   * The track's keyframe at `frame` becomes `key` (added, or replacing the one there).
   * @param {string} id
   * @param {Keyframe} key
   */
  setKeyframe(id, key) {
    const track = this.tracks.get(id);
    if (!track || this.locked.has(id)) return;
    const keys = track.keyframes.filter((k) => k.frame !== key.frame);
    keys.push(key);
    keys.sort((a, b) => a.frame - b.frame);
    track.keyframes = keys;
  }

  /**
   * The object leaves the view at `frame` (a keyframe marked outside, holding its last shape);
   * a track left with no inside keyframe is removed.
   * @param {string} id
   * @param {number} frame
   */
  leave(id, frame) {
    const track = this.tracks.get(id);
    if (!track || this.locked.has(id)) return;
    const here = shapeAt(track, frame);
    const last = here?.shape ?? track.keyframes[track.keyframes.length - 1].shape;
    this.setKeyframe(id, { frame, shape: last, outside: true });
    if (!track.keyframes.some((k) => !k.outside)) this.tracks.delete(id);
  }

  /**
   * @param {string} id
   * @param {number} frame
   */
  toggleOccluded(id, frame) {
    const track = this.tracks.get(id);
    const here = track && shapeAt(track, frame);
    if (!track || !here) return;
    this.setKeyframe(id, { frame, shape: here.shape, occluded: !here.occluded });
  }

  /**
   * The nearest keyframe of any shown track after (`step` 1) or before (`step` -1) `frame`.
   * @param {number} frame
   * @param {1 | -1} step
   * @returns {number | null}
   */
  nextKeyframe(frame, step) {
    let best = null;
    for (const track of this.tracks.values()) {
      if (this.hidden.has(track.track_id)) continue;
      for (const { frame: f } of track.keyframes) {
        if ((f - frame) * step > 0 && (best === null || (f - best) * step < 0)) best = f;
      }
    }
    return best;
  }

  /** @returns {{ tracks: Track[] }} what the API takes (POST /v1/tasks/{id}/submit) */
  toJSON() {
    return { tracks: [...this.tracks.values()].filter((t) => t.keyframes.length) };
  }
}
