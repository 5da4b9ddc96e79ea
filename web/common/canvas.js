// @ts-check
// The canvas layer: an image with pan and zoom, the shapes of an annotation drawn over it,
// and (when editable) tools to draw and edit every geometry kind. Shapes use the API's
// format: {kind: "bbox", class_id, bbox: [x, y, w, h]}, {kind: "polygon" | "polyline",
// points: [[x, y], ...]}, {kind: "keypoints", keypoints: [[x, y, v], ...]},
// {kind: "classification"}; all in image pixels.

/** @typedef {[number, number]} Point */
/** A keypoint with its visibility as in COCO: 0 not labeled, 1 hidden, 2 visible. @typedef {[number, number, 0 | 1 | 2]} Keypoint */
/** @typedef {Record<string, string | boolean>} Attributes */
/** @typedef {{ kind: "bbox", class_id: number, bbox: [number, number, number, number], attributes?: Attributes }} BoxShape */
/** @typedef {{ kind: "polygon" | "polyline", class_id: number, points: Point[], attributes?: Attributes }} LineShape */
/** @typedef {{ kind: "keypoints", class_id: number, keypoints: Keypoint[], attributes?: Attributes }} KeypointsShape */
/** @typedef {{ kind: "classification", class_id: number, attributes?: Attributes }} ClassificationShape */
/**
 * On a video's frame, the video workspace marks each shape with its track, and whether it is
 * interpolated (drawn dashed) rather than a keyframe.
 * @typedef {{ track_id?: string, interpolated?: boolean }} TrackMark
 */
/** @typedef {(BoxShape | LineShape | KeypointsShape | ClassificationShape) & TrackMark} Shape */
/** @typedef {{ shapes: Shape[] }} Annotation */
/** @typedef {{ keypoints: string[], edges: [number, number][] }} Skeleton */
/** @typedef {{ name: string, type: "enum" | "boolean" | "text", options: string[], required: boolean }} AttributeSpec */
/**
 * A class of the project's ontology.
 * @typedef {{ id: number, name: string, kind: Shape["kind"], skeleton?: Skeleton | null,
 *   attributes?: AttributeSpec[] }} OntologyClass
 */
/** What the API says is wrong with one shape of a submission. @typedef {{ shape: number, code: string, message: string }} ShapeError */
/**
 * The shape being drawn: a box between two corners, the points of a line so far, keypoints.
 * @typedef {{ kind: "bbox", class_id: number, start: Point, end: Point }
 *   | { kind: "polygon" | "polyline", class_id: number, points: Point[] }
 *   | { kind: "keypoints", class_id: number, keypoints: Keypoint[] }} Draft
 */
/** @typedef {{ kind: "pan", from: Point, offset: Point } | { kind: "handle", handle: number } | { kind: "box" }} Drag */
/**
 * @typedef {object} CanvasOptions
 * @property {boolean} [editable] whether the tools draw and edit (else the canvas only shows)
 * @property {(shapes: Shape[]) => void} [onChange] after each edit
 * @property {(index: number) => void} [onSelect] a shape's index, or -1 for none
 */

const PALETTE = ["#4cc9f0", "#f72585", "#b5e48c", "#ffb703", "#9d4edd", "#06d6a0", "#ef476f", "#ffd166"];
const HANDLE = 6; // screen pixels

/**
 * @param {number} classId
 * @returns {string}
 */
export function colorOf(classId) {
  return PALETTE[(classId - 1) % PALETTE.length];
}

/**
 * @param {readonly number[]} a
 * @param {readonly number[]} b
 */
function dist2(a, b) {
  return (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2;
}

/**
 * @param {Point} p
 * @param {Point[]} points
 */
function insidePolygon(p, points) {
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
 * @param {Point} a
 * @param {Point} b
 * @param {number} tolerance
 */
function nearSegment(p, a, b, tolerance) {
  const [dx, dy] = [b[0] - a[0], b[1] - a[1]];
  const length2 = dx * dx + dy * dy || 1;
  const t = Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length2));
  return dist2(p, [a[0] + t * dx, a[1] + t * dy]) <= tolerance * tolerance;
}

// The editable points of a shape: a box's corners, the visible keypoints, a line's points.
/**
 * @param {Shape} shape
 * @returns {Point[]}
 */
function handles(shape) {
  if (shape.kind === "bbox") {
    const [x, y, w, h] = shape.bbox;
    return [[x, y], [x + w, y], [x + w, y + h], [x, y + h]];
  }
  if (shape.kind === "keypoints") return shape.keypoints.filter((k) => k[2] > 0).map((k) => [k[0], k[1]]);
  return ("points" in shape && shape.points) || [];
}

/**
 * @param {string} url
 * @returns {Promise<HTMLImageElement>}
 */
export function loadImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("the image could not be loaded"));
    img.src = url;
  });
}

export class ImageCanvas {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {CanvasOptions} [options]
   */
  constructor(canvas, { editable = false, onChange = () => {}, onSelect = () => {} } = {}) {
    const ctx = canvas.getContext("2d");
    if (!ctx) throw new Error("this browser draws no 2D canvas");
    this.canvas = canvas;
    this.ctx = ctx;
    this.editable = editable;
    this.onChange = onChange;
    this.onSelect = onSelect;
    /** @type {HTMLImageElement | null} */
    this.image = null;
    this.width = 0;
    this.height = 0;
    this.scale = 1;
    /** @type {Point} */
    this.offset = [0, 0];
    /** @type {Shape[]} */
    this.shapes = [];
    /** @type {Map<number, OntologyClass>} */
    this.classes = new Map();
    /** @type {OntologyClass | null} */
    this.currentClass = null;
    this.selected = -1;
    /** @type {Draft | null} */
    this.draft = null; // the shape being drawn
    /** @type {Drag | null} */
    this.drag = null;
    /** @type {Point | null} */
    this.hover = null; // where the pointer is while a line is drawn
    /** @type {Map<number, string>} */
    this.errors = new Map(); // shape index -> message from the API
    /** @type {string[]} */
    this.undoStack = [];
    /** @type {string[]} */
    this.redoStack = [];
    this.spaceDown = false;
    this.listen();
    new ResizeObserver(() => this.resize()).observe(canvas);
  }

  /** @param {OntologyClass[]} classes */
  setClasses(classes) {
    this.classes = new Map(classes.map((c) => [c.id, c]));
  }

  /**
   * @param {string} url
   * @param {number} width
   * @param {number} height
   * @param {Shape[]} [shapes]
   */
  async load(url, width, height, shapes = []) {
    this.width = width;
    this.height = height;
    this.shapes = structuredClone(shapes);
    this.selected = -1;
    this.draft = null;
    this.errors.clear();
    this.undoStack = [];
    this.redoStack = [];
    this.image = await loadImage(url);
    this.fit();
  }

  /**
   * Another frame of the same video: its picture and shapes, the view (zoom, pan) kept.
   * @param {HTMLImageElement} image
   * @param {Shape[]} shapes
   */
  showFrame(image, shapes) {
    this.image = image;
    this.shapes = structuredClone(shapes);
    this.draft = null;
    this.errors.clear();
    this.undoStack = [];
    this.redoStack = [];
    this.select(this.selected < this.shapes.length ? this.selected : -1);
    this.render();
  }

  // ----- view ----------------------------------------------------------------------------

  resize() {
    const rect = this.canvas.getBoundingClientRect();
    this.canvas.width = Math.max(1, Math.round(rect.width * devicePixelRatio));
    this.canvas.height = Math.max(1, Math.round(rect.height * devicePixelRatio));
    this.render();
  }

  fit() {
    const rect = this.canvas.getBoundingClientRect();
    if (!this.width || !rect.width) return this.render();
    this.scale = Math.min(rect.width / this.width, rect.height / this.height) * 0.95;
    this.offset = [(rect.width - this.width * this.scale) / 2, (rect.height - this.height * this.scale) / 2];
    this.render();
  }

  /**
   * @param {number} factor
   * @param {Point} around
   */
  zoom(factor, around) {
    const before = this.toImage(around);
    this.scale = Math.min(40, Math.max(0.05, this.scale * factor));
    this.offset = [around[0] - before[0] * this.scale, around[1] - before[1] * this.scale];
    this.render();
  }

  /**
   * @param {Point} screen
   * @returns {Point}
   */
  toImage([sx, sy]) {
    return [(sx - this.offset[0]) / this.scale, (sy - this.offset[1]) / this.scale];
  }

  /**
   * @param {readonly number[]} point
   * @returns {Point}
   */
  toScreen([x, y]) {
    return [x * this.scale + this.offset[0], y * this.scale + this.offset[1]];
  }

  /**
   * @param {MouseEvent} event
   * @returns {Point}
   */
  screenPoint(event) {
    const rect = this.canvas.getBoundingClientRect();
    return [event.clientX - rect.left, event.clientY - rect.top];
  }

  /**
   * @param {Point} point
   * @returns {Point}
   */
  clamp([x, y]) {
    return [Math.min(this.width, Math.max(0, x)), Math.min(this.height, Math.max(0, y))];
  }

  // ----- editing ---------------------------------------------------------------------------

  snapshot() {
    this.undoStack.push(JSON.stringify(this.shapes));
    if (this.undoStack.length > 200) this.undoStack.shift();
    this.redoStack = [];
  }

  changed() {
    this.errors.clear();
    this.render();
    this.onChange(this.shapes);
  }

  undo() {
    const before = this.undoStack.pop();
    if (before === undefined) return;
    this.redoStack.push(JSON.stringify(this.shapes));
    this.shapes = JSON.parse(before);
    this.select(-1);
    this.changed();
  }

  redo() {
    const after = this.redoStack.pop();
    if (after === undefined) return;
    this.undoStack.push(JSON.stringify(this.shapes));
    this.shapes = JSON.parse(after);
    this.select(-1);
    this.changed();
  }

  /** @param {Shape} shape */
  add(shape) {
    this.snapshot();
    this.shapes.push(shape);
    this.select(this.shapes.length - 1);
    this.changed();
  }

  removeSelected() {
    if (this.selected < 0) return;
    this.snapshot();
    this.shapes.splice(this.selected, 1);
    this.select(-1);
    this.changed();
  }

  /**
   * @param {number} index
   * @param {string} name
   * @param {string | boolean | undefined} value "" or undefined: none
   */
  setAttribute(index, name, value) {
    this.snapshot();
    const attributes = { ...(this.shapes[index].attributes || {}) };
    if (value === "" || value === undefined) delete attributes[name];
    else attributes[name] = value;
    this.shapes[index].attributes = attributes;
    this.changed();
  }

  /** @param {number} index */
  select(index) {
    this.selected = index;
    this.render();
    this.onSelect(index);
  }

  /** @param {ShapeError[] | null | undefined} details */
  showErrors(details) {
    this.errors = new Map((details || []).map((d) => [d.shape, d.message || d.code]));
    this.render();
  }

  /**
   * @param {Point} point
   * @returns {number} the index of the topmost shape at `point`, or -1
   */
  hit(point) {
    const tolerance = HANDLE / this.scale;
    for (let i = this.shapes.length - 1; i >= 0; i--) {
      const s = this.shapes[i];
      if (s.kind === "bbox") {
        const [x, y, w, h] = s.bbox;
        if (point[0] >= x - tolerance && point[0] <= x + w + tolerance && point[1] >= y - tolerance && point[1] <= y + h + tolerance) return i;
      } else if (s.kind === "polygon") {
        if (insidePolygon(point, s.points)) return i;
      } else if (s.kind === "polyline") {
        for (let k = 1; k < s.points.length; k++) if (nearSegment(point, s.points[k - 1], s.points[k], tolerance)) return i;
      } else if (s.kind === "keypoints") {
        if (s.keypoints.some((k) => k[2] > 0 && dist2(point, k) <= tolerance * tolerance * 4)) return i;
      }
    }
    return -1;
  }

  /**
   * @param {Point} point
   * @returns {number} the index of the selected shape's handle at `point`, or -1
   */
  handleAt(point) {
    if (this.selected < 0) return -1;
    const tolerance = (HANDLE * 1.5) / this.scale;
    return handles(this.shapes[this.selected]).findIndex((h) => dist2(point, h) <= tolerance * tolerance);
  }

  /**
   * @param {number} index
   * @param {number} handle
   * @param {Point} point
   */
  moveHandle(index, handle, [x, y]) {
    const s = this.shapes[index];
    if (s.kind === "bbox") {
      const corners = handles(s);
      const opposite = corners[(handle + 2) % 4];
      s.bbox = [Math.min(x, opposite[0]), Math.min(y, opposite[1]), Math.abs(x - opposite[0]), Math.abs(y - opposite[1])];
    } else if (s.kind === "keypoints") {
      const kp = s.keypoints.filter((k) => k[2] > 0)[handle];
      kp[0] = x;
      kp[1] = y;
    } else if ("points" in s) {
      s.points[handle] = [x, y];
    }
  }

  // Start or continue drawing with the current class's kind.
  /**
   * @param {Point} point
   * @returns {boolean} whether the point went to a drawing
   */
  drawAt(point) {
    const cls = this.currentClass;
    if (!cls || cls.kind === "classification") return false;
    if (cls.kind === "bbox") {
      this.draft = { kind: "bbox", class_id: cls.id, start: point, end: point };
      this.drag = { kind: "box" };
      return true;
    }
    if (cls.kind === "keypoints") {
      const names = cls.skeleton?.keypoints || [];
      if (this.draft?.kind !== "keypoints") this.draft = { kind: "keypoints", class_id: cls.id, keypoints: [] };
      this.draft.keypoints.push([point[0], point[1], 2]);
      if (this.draft.keypoints.length === names.length) this.finishDraft();
      this.render();
      return true;
    }
    if (!this.draft || !("points" in this.draft)) this.draft = { kind: cls.kind, class_id: cls.id, points: [] };
    this.draft.points.push(point);
    this.render();
    return true;
  }

  finishDraft() {
    const d = this.draft;
    if (!d) return;
    this.draft = null;
    if (d.kind === "polygon" && d.points.length >= 3) this.add({ kind: "polygon", class_id: d.class_id, points: d.points, attributes: {} });
    else if (d.kind === "polyline" && d.points.length >= 2) this.add({ kind: "polyline", class_id: d.class_id, points: d.points, attributes: {} });
    else if (d.kind === "keypoints") {
      const names = this.classes.get(d.class_id)?.skeleton?.keypoints || [];
      const keypoints = names.map((_, i) => d.keypoints[i] || [0, 0, 0]); // unlabeled: v = 0
      this.add({ kind: "keypoints", class_id: d.class_id, keypoints, attributes: {} });
    } else this.render();
  }

  cancelDraft() {
    this.draft = null;
    this.render();
  }

  // ----- input -----------------------------------------------------------------------------

  listen() {
    const c = this.canvas;
    c.addEventListener("contextmenu", (e) => e.preventDefault());
    c.addEventListener("wheel", (e) => {
      e.preventDefault();
      this.zoom(e.deltaY < 0 ? 1.15 : 1 / 1.15, this.screenPoint(e));
    }, { passive: false });
    c.addEventListener("mousedown", (e) => this.mouseDown(e));
    window.addEventListener("mousemove", (e) => this.mouseMove(e));
    window.addEventListener("mouseup", () => this.mouseUp());
    c.addEventListener("dblclick", (e) => {
      e.preventDefault();
      if (this.draft && "points" in this.draft) {
        this.draft.points.pop(); // the second click of the double-click added a point
        this.finishDraft();
      }
    });
    window.addEventListener("keydown", (e) => { if (e.code === "Space" && e.target === document.body) { this.spaceDown = true; e.preventDefault(); } });
    window.addEventListener("keyup", (e) => { if (e.code === "Space") this.spaceDown = false; });
  }

  /** @param {MouseEvent} e */
  mouseDown(e) {
    const screen = this.screenPoint(e);
    if (e.button === 1 || e.button === 2 || this.spaceDown) {
      this.drag = { kind: "pan", from: screen, offset: [...this.offset] };
      return;
    }
    if (!this.editable || e.button !== 0) return;
    const point = this.clamp(this.toImage(screen));
    if (this.draft) {
      this.drawAt(point); // the next point of a polygon, line or skeleton
      return;
    }
    const handle = this.handleAt(point);
    if (handle >= 0) {
      this.snapshot();
      this.drag = { kind: "handle", handle };
      return;
    }
    // No class chosen (select mode), or Alt held: a click selects the shape under it.
    if (!this.currentClass || e.altKey || !this.drawAt(point)) this.select(this.hit(point));
  }

  /** @param {MouseEvent} e */
  mouseMove(e) {
    if (!this.drag && !this.draft) return;
    const screen = this.screenPoint(e);
    if (this.drag?.kind === "pan") {
      this.offset = [this.drag.offset[0] + screen[0] - this.drag.from[0], this.drag.offset[1] + screen[1] - this.drag.from[1]];
      this.render();
      return;
    }
    const point = this.clamp(this.toImage(screen));
    if (this.drag?.kind === "handle") {
      this.moveHandle(this.selected, this.drag.handle, point);
      this.render();
    } else if (this.drag?.kind === "box") {
      if (this.draft?.kind === "bbox") this.draft.end = point;
      this.render();
    } else if (this.draft) {
      this.hover = point;
      this.render();
    }
  }

  mouseUp() {
    const drag = this.drag;
    this.drag = null;
    if (drag?.kind === "handle") this.changed();
    if (drag?.kind === "box" && this.draft?.kind === "bbox") {
      const { start, end, class_id } = this.draft;
      this.draft = null;
      /** @type {BoxShape["bbox"]} */
      const bbox = [Math.min(start[0], end[0]), Math.min(start[1], end[1]), Math.abs(end[0] - start[0]), Math.abs(end[1] - start[1])];
      if (bbox[2] * this.scale >= 3 && bbox[3] * this.scale >= 3) this.add({ kind: "bbox", class_id, bbox, attributes: {} });
      else this.render();
    }
  }

  // ----- drawing ---------------------------------------------------------------------------

  render() {
    const ctx = this.ctx;
    const ratio = devicePixelRatio;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    if (!this.image) return;
    ctx.imageSmoothingEnabled = this.scale < 2;
    ctx.drawImage(this.image, this.offset[0], this.offset[1], this.width * this.scale, this.height * this.scale);
    this.shapes.forEach((shape, i) => this.drawShape(shape, i === this.selected, this.errors.get(i)));
    if (this.draft) this.drawDraft();
  }

  /**
   * @param {(readonly number[])[]} points
   * @param {boolean} close
   */
  path(points, close) {
    const ctx = this.ctx;
    ctx.beginPath();
    points.forEach((p, i) => {
      const [x, y] = this.toScreen(p);
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    if (close) ctx.closePath();
  }

  /**
   * @param {Shape} shape
   * @param {boolean} selected
   * @param {string | undefined} error the API's complaint about this shape
   */
  drawShape(shape, selected, error) {
    const ctx = this.ctx;
    const color = error ? "#ff4d4d" : colorOf(shape.class_id);
    ctx.lineWidth = selected ? 3 : 2;
    ctx.strokeStyle = color;
    ctx.fillStyle = color + "33";
    ctx.setLineDash(shape.interpolated ? [6, 4] : []);
    /** @type {Point | null} */
    let anchor = null;
    if (shape.kind === "bbox") {
      const [x, y, w, h] = shape.bbox;
      const [sx, sy] = this.toScreen([x, y]);
      ctx.fillRect(sx, sy, w * this.scale, h * this.scale);
      ctx.strokeRect(sx, sy, w * this.scale, h * this.scale);
      anchor = [sx, sy];
    } else if (shape.kind === "polygon" || shape.kind === "polyline") {
      this.path(shape.points, shape.kind === "polygon");
      if (shape.kind === "polygon") ctx.fill();
      ctx.stroke();
      anchor = this.toScreen(shape.points[0]);
    } else if (shape.kind === "keypoints") {
      const skeleton = this.classes.get(shape.class_id)?.skeleton;
      for (const [a, b] of skeleton?.edges || []) {
        const [p, q] = [shape.keypoints[a - 1], shape.keypoints[b - 1]];
        if (p && q && p[2] > 0 && q[2] > 0) {
          this.path([p, q], false);
          ctx.stroke();
        }
      }
      for (const k of shape.keypoints.filter((k) => k[2] > 0)) {
        const [x, y] = this.toScreen(k);
        ctx.beginPath();
        ctx.arc(x, y, 4, 0, Math.PI * 2);
        ctx.fillStyle = color;
        ctx.fill();
      }
      const first = shape.keypoints.find((k) => k[2] > 0);
      anchor = first ? this.toScreen(first) : null;
    }
    ctx.setLineDash([]);
    if (selected) {
      ctx.fillStyle = "#ffffff";
      for (const h of handles(shape)) {
        const [x, y] = this.toScreen(h);
        ctx.fillRect(x - HANDLE / 2, y - HANDLE / 2, HANDLE, HANDLE);
      }
    }
    const label = this.classes.get(shape.class_id)?.name || `class ${shape.class_id}`;
    if (anchor) this.label(anchor, error ? `${label}: ${error}` : label, color);
  }

  /**
   * @param {Point} anchor
   * @param {string} text
   * @param {string} color
   */
  label([x, y], text, color) {
    const ctx = this.ctx;
    ctx.font = "12px system-ui, sans-serif";
    const width = ctx.measureText(text).width + 8;
    ctx.fillStyle = color;
    ctx.fillRect(x, y - 18, width, 16);
    ctx.fillStyle = "#111";
    ctx.fillText(text, x + 4, y - 6);
  }

  drawDraft() {
    const ctx = this.ctx;
    const d = this.draft;
    if (!d) return;
    ctx.setLineDash([6, 4]);
    ctx.strokeStyle = colorOf(d.class_id);
    ctx.lineWidth = 2;
    if (d.kind === "bbox") {
      const [a, b] = [this.toScreen(d.start), this.toScreen(d.end)];
      ctx.strokeRect(Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.abs(b[0] - a[0]), Math.abs(b[1] - a[1]));
    } else if ("points" in d) {
      this.path(this.hover ? [...d.points, this.hover] : d.points, false);
      ctx.stroke();
    } else if ("keypoints" in d) {
      for (const k of d.keypoints) {
        const [x, y] = this.toScreen(k);
        ctx.strokeRect(x - 3, y - 3, 6, 6);
      }
    }
    ctx.setLineDash([]);
  }
}
