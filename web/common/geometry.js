// @ts-check
// The shapes' geometry for the canvas: hit tests, and the editable points (handles) of each
// kind and what dragging one does. Pure functions, in image pixels; kept apart from canvas.js
// so that the canvas layer stays about drawing and input.

/** @typedef {import("./canvas.js").Point} Point */
/** @typedef {import("./canvas.js").Shape} Shape */

/**
 * @param {readonly number[]} a
 * @param {readonly number[]} b
 */
export function dist2(a, b) {
  return (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2;
}

/**
 * @param {Point} p
 * @param {readonly (readonly number[])[]} points
 */
export function insidePolygon(p, points) {
  let inside = false;
  for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
    const [xi, yi] = points[i];
    const [xj, yj] = points[j];
    if (yi > p[1] !== yj > p[1] && p[0] < ((xj - xi) * (p[1] - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/**
 * @param {Point} p
 * @param {readonly number[]} a
 * @param {readonly number[]} b
 * @param {number} tolerance
 */
export function nearSegment(p, a, b, tolerance) {
  const [dx, dy] = [b[0] - a[0], b[1] - a[1]];
  const length2 = dx * dx + dy * dy || 1;
  const t = Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length2));
  return dist2(p, [a[0] + t * dx, a[1] + t * dy]) <= tolerance * tolerance;
}

/**
 * A box's corners as drawn, clockwise from the one that was top-left before it turned: the
 * contracts' `BoxShape.corners`, the same formula.
 * @param {import("./canvas.js").BoxShape} box
 * @returns {Point[]}
 */
export function corners(box) {
  const [x, y, w, h] = box.bbox;
  if (!box.rotation) return [[x, y], [x + w, y], [x + w, y + h], [x, y + h]];
  return [[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]].map(([dx, dy]) => turn([x + w / 2, y + h / 2], [dx, dy], box.rotation || 0));
}

/**
 * `centre` plus the offset `[dx, dy]` turned `degrees` clockwise (on screen, y down).
 * @param {readonly number[]} centre
 * @param {readonly number[]} offset
 * @param {number} degrees
 * @returns {Point}
 */
function turn([cx, cy], [dx, dy], degrees) {
  const [cos, sin] = [Math.cos((degrees * Math.PI) / 180), Math.sin((degrees * Math.PI) / 180)];
  return [cx + dx * cos - dy * sin, cy + dx * sin + dy * cos];
}

/**
 * A box turned by `degrees` more (changed in place), kept in [0, 360).
 * @param {import("./canvas.js").BoxShape} box
 * @param {number} degrees
 */
export function rotateBox(box, degrees) {
  const turned = (((box.rotation || 0) + degrees) % 360 + 360) % 360;
  box.rotation = Math.round(turned * 1000) / 1000;
}

/** Points a smooth line's curve has between two of its points: the contracts' CURVE_STEPS. */
export const CURVE_STEPS = 8;

/**
 * A Catmull-Rom curve through `points` (uniform, the ends repeated), `steps` points a span:
 * the contracts' `curve_points`, the same formula, so the page draws what formats are given.
 * @param {readonly Point[]} points
 * @param {number} [steps]
 * @returns {Point[]}
 */
export function curvePoints(points, steps = CURVE_STEPS) {
  if (points.length < 3) return [...points];
  const padded = [points[0], ...points, points[points.length - 1]];
  /** @type {Point[]} */
  const out = [points[0]];
  for (let i = 1; i < padded.length - 2; i++) {
    const [p0, p1, p2, p3] = padded.slice(i - 1, i + 3);
    for (let step = 1; step <= steps; step++) {
      const t = step / steps;
      const [t2, t3] = [t * t, t * t * t];
      /** @param {number} k */
      const at = (k) => 0.5 * (2 * p1[k] + (p2[k] - p0[k]) * t + (2 * p0[k] - 5 * p1[k] + 4 * p2[k] - p3[k]) * t2 + (3 * p1[k] - p0[k] - 3 * p2[k] + p3[k]) * t3);
      out.push([at(0), at(1)]);
    }
  }
  return out;
}

/**
 * The points a line passes through as drawn: its curve's when it is smooth.
 * @param {import("./canvas.js").LineShape} shape
 */
export function lineOf(shape) {
  return shape.kind === "polyline" && shape.smooth ? curvePoints(shape.points) : shape.points;
}

// A box's handles: its corners (0-3, clockwise from the top left), then the middles of its
// edges (4 top, 5 right, 6 bottom, 7 left), so that one side can be moved alone; a turned
// box's turn with it.
/**
 * The editable points of a shape: a box's corners and edge middles, the visible keypoints, a
 * line's points. A mask has none (it is redrawn with the assist mode, not edited by points).
 * @param {Shape} shape
 * @returns {Point[]}
 */
export function handles(shape) {
  if (shape.kind === "bbox") {
    const c = corners(shape);
    /** @type {Point[]} */
    const middles = c.map((p, i) => [(p[0] + c[(i + 1) % 4][0]) / 2, (p[1] + c[(i + 1) % 4][1]) / 2]);
    return [...c, ...middles];
  }
  if (shape.kind === "keypoints") return shape.keypoints.filter((k) => k[2] > 0).map((k) => [k[0], k[1]]);
  return ("points" in shape && shape.points) || [];
}

/**
 * The handle of `shape` at `point`, or -1: a handle within `tolerance`, else, on a box, the
 * edge under the point (its middle's handle), so that a side is grabbed anywhere along it.
 * @param {Shape} shape
 * @param {Point} point
 * @param {number} tolerance in image pixels
 */
export function handleAt(shape, point, tolerance) {
  const points = handles(shape);
  const found = points.findIndex((h) => dist2(point, h) <= tolerance * tolerance);
  if (found >= 0 || shape.kind !== "bbox") return found;
  const [a, b, c, d] = points;
  const edges = [[a, b], [b, c], [c, d], [d, a]];
  const edge = edges.findIndex(([p, q]) => nearSegment(point, p, q, tolerance / 1.5));
  return edge >= 0 ? 4 + edge : -1;
}

/**
 * Drag a handle of `shape` (changed in place) to `point`.
 * @param {Shape} shape
 * @param {number} handle
 * @param {Point} point
 */
export function moveHandle(shape, handle, [x, y]) {
  if (shape.kind === "bbox" && shape.rotation) {
    // In the box's own frame (turned back about its centre) the handle moves as on a box
    // that does not turn; the new box is then placed so that its other sides stay put.
    const [bx, by, bw, bh] = shape.bbox;
    const centre = [bx + bw / 2, by + bh / 2];
    const local = turn(centre, [x - centre[0], y - centre[1]], -shape.rotation);
    const straight = { kind: /** @type {"bbox"} */ ("bbox"), class_id: shape.class_id, bbox: shape.bbox };
    moveHandle(straight, handle, local);
    const [nx, ny, nw, nh] = straight.bbox;
    const moved = turn(centre, [nx + nw / 2 - centre[0], ny + nh / 2 - centre[1]], shape.rotation);
    shape.bbox = [moved[0] - nw / 2, moved[1] - nh / 2, nw, nh];
  } else if (shape.kind === "bbox") {
    const [bx, by, bw, bh] = shape.bbox;
    let [left, top, right, bottom] = [bx, by, bx + bw, by + bh];
    // Which sides each handle moves: corners two, edge middles one.
    if (handle === 0 || handle === 3 || handle === 7) left = x;
    if (handle === 1 || handle === 2 || handle === 5) right = x;
    if (handle === 0 || handle === 1 || handle === 4) top = y;
    if (handle === 2 || handle === 3 || handle === 6) bottom = y;
    shape.bbox = [Math.min(left, right), Math.min(top, bottom), Math.abs(right - left), Math.abs(bottom - top)];
  } else if (shape.kind === "keypoints") {
    const kp = shape.keypoints.filter((k) => k[2] > 0)[handle];
    kp[0] = x;
    kp[1] = y;
  } else if ("points" in shape) {
    shape.points[handle] = [x, y];
  }
}

/** Points a polygon or a line keeps at least. */
const MIN_POINTS = { polygon: 3, polyline: 2 };

/**
 * Where a new point goes on the outline of `shape` near `point`: the index to insert it at
 * (after the first point of the edge under it), or -1 (not a polygon or line, or no edge near).
 * @param {Shape} shape
 * @param {Point} point
 * @param {number} tolerance in image pixels
 */
export function edgeAt(shape, point, tolerance) {
  if (shape.kind !== "polygon" && shape.kind !== "polyline") return -1;
  const points = shape.points;
  const edges = shape.kind === "polygon" ? points.length : points.length - 1;
  for (let i = 0; i < edges; i++) {
    if (nearSegment(point, points[i], points[(i + 1) % points.length], tolerance)) return i + 1;
  }
  return -1;
}

/**
 * A point of a polygon or line taken out (changed in place), unless the shape would fall under
 * its minimum (3 for a polygon, 2 for a line).
 * @param {Shape} shape
 * @param {number} index
 * @returns {boolean} whether it was taken out
 */
export function removePoint(shape, index) {
  if (shape.kind !== "polygon" && shape.kind !== "polyline") return false;
  if (shape.points.length <= MIN_POINTS[shape.kind] || !shape.points[index]) return false;
  shape.points.splice(index, 1);
  return true;
}

/**
 * A placed keypoint (handle `handle`, as `handles` counts them) marked hidden, or visible
 * again: COCO's visibility 1 (there, but occluded) and 2 (seen).
 * @param {Shape} shape
 * @param {number} handle
 * @returns {boolean} whether it changed
 */
export function toggleHidden(shape, handle) {
  if (shape.kind !== "keypoints") return false;
  const keypoint = shape.keypoints.filter((k) => k[2] > 0)[handle];
  if (!keypoint) return false;
  keypoint[2] = keypoint[2] === 2 ? 1 : 2;
  return true;
}
