// @ts-check
// The canvas layer: an image with pan and zoom, the shapes of an annotation drawn over it,
// and (when editable) tools to draw and edit every geometry kind. Shapes use the API's
// format: {kind: "bbox", class_id, bbox: [x, y, w, h]}, {kind: "polygon" | "polyline",
// points: [[x, y], ...]}, {kind: "keypoints", keypoints: [[x, y, v], ...]},
// {kind: "classification"}, {kind: "mask", rle} (web/common/rle.js); all in image pixels.
// Each shape keeps its `source` (how it was made: none for by hand, or a model's); a model's
// shapes not yet decided on are the canvas's `proposals`, drawn dashed with their confidence.

import { corners, dist2, edgeAt, handleAt, insidePolygon, lineOf, moveHandle, nearSegment, removePoint, rotateBox, toggleHidden } from "/ui/common/geometry.js";
import { HANDLE, drawDraft, drawShape, setColours } from "/ui/common/painter.js";
import { maskContains } from "/ui/common/rle.js";

export { colorOf, proposalLabel } from "/ui/common/painter.js";

/** @typedef {[number, number]} Point */
/** A keypoint with its visibility as in COCO: 0 not labeled, 1 hidden, 2 visible. @typedef {[number, number, 0 | 1 | 2]} Keypoint */
/** @typedef {Record<string, string | boolean>} Attributes */
/**
 * A box; `rotation` turns it clockwise about its centre, in degrees (absent or 0: it does not).
 * @typedef {{ kind: "bbox", class_id: number, bbox: [number, number, number, number], rotation?: number, attributes?: Attributes }} BoxShape
 */
/** A polygon or a line; a `smooth` line is drawn as a curve through its points. @typedef {{ kind: "polygon" | "polyline", class_id: number, points: Point[], smooth?: boolean, attributes?: Attributes }} LineShape */
/** @typedef {{ kind: "keypoints", class_id: number, keypoints: Keypoint[], attributes?: Attributes }} KeypointsShape */
/** @typedef {{ kind: "classification", class_id: number, attributes?: Attributes }} ClassificationShape */
/** @typedef {{ kind: "mask", class_id: number, rle: import("/ui/common/rle.js").Rle, attributes?: Attributes }} MaskShape */
/**
 * How a shape was made (the contracts' ShapeSource): none, or `by` "human", for by hand; a
 * model's (`name@version`) proposal kept as it was, or edited by hand ("model_edited").
 * @typedef {{ by: "human" | "model" | "model_edited", model?: string | null, confidence?: number | null }} ShapeSource
 */
/**
 * On a video's frame, the video workspace marks each shape with its track, and whether it is
 * interpolated (drawn dashed) rather than a keyframe.
 * @typedef {{ track_id?: string, interpolated?: boolean }} TrackMark
 */
/** @typedef {(BoxShape | LineShape | KeypointsShape | ClassificationShape | MaskShape) & TrackMark & { source?: ShapeSource | null }} Shape */
/** @typedef {{ shapes: Shape[] }} Annotation */
/** @typedef {{ keypoints: string[], edges: [number, number][] }} Skeleton */
/** @typedef {{ name: string, type: "enum" | "boolean" | "text", options: string[], required: boolean }} AttributeSpec */
/**
 * A class of the project's ontology.
 * @typedef {{ id: number, name: string, kind: Shape["kind"], skeleton?: Skeleton | null,
 *   attributes?: AttributeSpec[], colour?: string | null }} OntologyClass
 */
/** What the API says is wrong with one shape of a submission. @typedef {{ shape: number, code: string, message: string }} ShapeError */
/**
 * The shape being drawn: a box between two corners, the points of a line so far, keypoints.
 * @typedef {{ kind: "bbox", class_id: number, start: Point, end: Point }
 *   | { kind: "polygon" | "polyline", class_id: number, points: Point[] }
 *   | { kind: "keypoints", class_id: number, keypoints: Keypoint[] }} Draft
 */
/**
 * A drag under way: panning; a handle of the selected shape (or proposal: it is accepted as
 * edited once the handle moves); a new box; a tool's.
 * @typedef {{ kind: "pan", from: Point, offset: Point } | { kind: "handle", handle: number, proposal: boolean, moved: boolean }
 *   | { kind: "box" } | { kind: "tool" }} Drag
 */
/**
 * A tool that takes the mouse over from the drawing tools while it is on (the labeling page's
 * assist mode): it gets the presses it wants, the moves and the release that follow, and
 * draws over the shapes.
 * @typedef {object} CanvasTool
 * @property {(point: Point, event: MouseEvent) => boolean} down whether it takes this press
 * @property {(point: Point) => void} move
 * @property {(point: Point, event: MouseEvent) => void} up
 * @property {(ctx: CanvasRenderingContext2D) => void} draw
 */
/**
 * @typedef {object} CanvasOptions
 * @property {boolean} [editable] whether the tools draw and edit (else the canvas only shows)
 * @property {(shapes: Shape[]) => void} [onChange] after each edit
 * @property {(index: number) => void} [onSelect] a shape's index, or -1 for none
 */

/**
 * Whether a shape is a model's (kept as proposed, or edited): the shapes a task's pre-label
 * proposes.
 * @param {Shape} shape
 */
export function byModel(shape) {
  return Boolean(shape.source && shape.source.by !== "human");
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
    /** @type {Shape[]} */
    this.proposals = []; // a model's shapes, not (yet) part of the annotation
    this.selectedProposal = -1;
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
    /** @type {CanvasTool | null} */
    this.tool = null;
    this.listen();
    new ResizeObserver(() => this.resize()).observe(canvas);
  }

  /** @param {OntologyClass[]} classes */
  setClasses(classes) {
    this.classes = new Map(classes.map((c) => [c.id, c]));
    setColours(classes); // before the class list's swatches are drawn
  }

  /**
   * @param {string} url
   * @param {number} width
   * @param {number} height
   * @param {Shape[]} [shapes]
   * @param {Shape[]} [proposals] a model's shapes to accept, edit or drop
   */
  async load(url, width, height, shapes = [], proposals = []) {
    this.width = width;
    this.height = height;
    this.shapes = structuredClone(shapes);
    this.proposals = structuredClone(proposals);
    this.selected = -1;
    this.selectedProposal = -1;
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
    this.proposals = [];
    this.selectedProposal = -1;
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

  // Undo and redo take the proposals back too: an accepted or dropped one returns undecided.
  state() {
    return JSON.stringify({ shapes: this.shapes, proposals: this.proposals });
  }

  /** @param {string} saved */
  restore(saved) {
    const { shapes, proposals } = JSON.parse(saved);
    this.shapes = shapes;
    this.proposals = proposals;
    this.select(-1);
    this.changed();
  }

  snapshot() {
    this.undoStack.push(this.state());
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
    this.redoStack.push(this.state());
    this.restore(before);
  }

  redo() {
    const after = this.redoStack.pop();
    if (after === undefined) return;
    this.undoStack.push(this.state());
    this.restore(after);
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
    this.selectedProposal = -1;
    this.render();
    this.onSelect(index);
  }

  /**
   * A shape's class, changed: a model's shape becomes one edited by hand.
   * @param {number} index
   * @param {number} classId
   */
  setClass(index, classId) {
    const shape = this.shapes[index];
    if (!shape || shape.class_id === classId) return;
    this.snapshot();
    shape.class_id = classId;
    this.markEdited(shape);
    this.changed();
  }

  /**
   * The selected box turned by `degrees` more (clockwise), one undo step.
   * @param {number} degrees
   * @returns {boolean} whether a box was selected
   */
  rotateSelected(degrees) {
    const shape = this.shapes[this.selected];
    if (shape?.kind !== "bbox") return false;
    this.snapshot();
    rotateBox(shape, degrees);
    this.markEdited(shape);
    this.changed();
    return true;
  }

  /**
   * The selected line made a smooth curve through its points, or straight again.
   * @returns {boolean} whether a line was selected
   */
  toggleSmooth() {
    const shape = this.shapes[this.selected];
    if (shape?.kind !== "polyline") return false;
    this.snapshot();
    shape.smooth = !shape.smooth;
    this.markEdited(shape);
    this.changed();
    return true;
  }

  /** @param {Shape} shape whose geometry or class a person changed */
  markEdited(shape) {
    if (shape.source?.by === "model") shape.source = { ...shape.source, by: "model_edited" };
  }

  // ----- proposals -------------------------------------------------------------------------

  /** @param {number} index a proposal's, or -1 */
  selectProposal(index) {
    this.selected = -1;
    this.selectedProposal = index;
    this.render();
    this.onSelect(-1);
  }

  /**
   * Put a proposal up (or replace `replacing`, a proposal up already), selected.
   * @param {Shape} shape
   * @param {Shape | null} [replacing]
   */
  propose(shape, replacing = null) {
    const at = replacing ? this.proposals.indexOf(replacing) : -1;
    if (at >= 0) this.proposals[at] = shape;
    else this.proposals.push(shape);
    this.selectProposal(at >= 0 ? at : this.proposals.length - 1);
  }

  /** @returns {number[]} the proposals' indexes, least confident first (no confidence: last) */
  proposalOrder() {
    const confidence = (/** @type {number} */ i) => this.proposals[i].source?.confidence ?? 2;
    return this.proposals.map((_, i) => i).sort((a, b) => confidence(a) - confidence(b) || a - b);
  }

  /** @param {number} step 1: the next proposal (least confident first), -1: the previous */
  cycleProposal(step) {
    const order = this.proposalOrder();
    if (!order.length) return;
    const at = order.indexOf(this.selectedProposal);
    const next = at < 0 ? (step > 0 ? 0 : order.length - 1) : (at + step + order.length) % order.length;
    this.selectProposal(order[next]);
  }

  /**
   * Make a proposal part of the annotation, kept as proposed or (`edited`) changed by hand.
   * @param {number} index
   * @param {boolean} [edited]
   * @returns {number} its index among the shapes, selected
   */
  acceptProposal(index, edited = false) {
    const shape = this.proposals[index];
    if (!shape) return -1;
    this.snapshot();
    this.proposals.splice(index, 1);
    if (edited) this.markEdited(shape);
    this.shapes.push(shape);
    this.select(this.shapes.length - 1);
    this.changed();
    return this.shapes.length - 1;
  }

  /**
   * Accept (or drop) the selected proposal and go on to the next one in the order, so that a
   * person can decide one after another with Enter and Delete.
   * @param {boolean} accept
   */
  decide(accept) {
    const index = this.selectedProposal;
    if (index < 0) return;
    const position = this.proposalOrder().indexOf(index);
    if (accept) this.acceptProposal(index);
    else {
      this.snapshot();
      this.proposals.splice(index, 1);
      this.changed();
    }
    const order = this.proposalOrder();
    if (order.length) this.selectProposal(order[Math.min(position, order.length - 1)]);
    else if (!accept) this.select(-1);
  }

  acceptAll() {
    if (!this.proposals.length) return;
    this.snapshot();
    this.shapes.push(...this.proposals);
    this.proposals = [];
    this.select(-1);
    this.changed();
  }

  /** @param {ShapeError[] | null | undefined} details */
  showErrors(details) {
    this.errors = new Map((details || []).map((d) => [d.shape, d.message || d.code]));
    this.render();
  }

  /**
   * @param {Point} point
   * @param {Shape[]} [shapes] the annotation's, or the proposals
   * @returns {number} the index of the topmost shape at `point`, or -1
   */
  hit(point, shapes = this.shapes) {
    const tolerance = HANDLE / this.scale;
    for (let i = shapes.length - 1; i >= 0; i--) {
      const s = shapes[i];
      if (s.kind === "bbox" && s.rotation) {
        if (insidePolygon(point, corners(s))) return i;
      } else if (s.kind === "bbox") {
        const [x, y, w, h] = s.bbox;
        if (point[0] >= x - tolerance && point[0] <= x + w + tolerance && point[1] >= y - tolerance && point[1] <= y + h + tolerance) return i;
      } else if (s.kind === "polygon") {
        if (insidePolygon(point, s.points)) return i;
      } else if (s.kind === "polyline") {
        const line = lineOf(s);
        for (let k = 1; k < line.length; k++) if (nearSegment(point, line[k - 1], line[k], tolerance)) return i;
      } else if (s.kind === "keypoints") {
        if (s.keypoints.some((k) => k[2] > 0 && dist2(point, k) <= tolerance * tolerance * 4)) return i;
      } else if (s.kind === "mask") {
        if (maskContains(s.rle, point)) return i;
      }
    }
    return -1;
  }

  /** @returns {Shape | undefined} the selected shape, or proposal */
  current() {
    return this.selectedProposal >= 0 ? this.proposals[this.selectedProposal] : this.shapes[this.selected];
  }

  /**
   * @param {Point} point
   * @returns {number} the index of the selected shape's (or proposal's) handle at `point`, or -1
   */
  handleAt(point) {
    const shape = this.current();
    return shape ? handleAt(shape, point, (HANDLE * 1.5) / this.scale) : -1;
  }

  // Start or continue drawing with the current class's kind.
  /**
   * @param {Point} point
   * @param {boolean} [hidden] a keypoint placed where it would be, but occluded (COCO v=1)
   * @returns {boolean} whether the point went to a drawing
   */
  drawAt(point, hidden = false) {
    const cls = this.currentClass;
    // Masks are not drawn by hand: they come from the assist mode (a tool).
    if (!cls || cls.kind === "classification" || cls.kind === "mask") return false;
    if (cls.kind === "bbox") {
      this.draft = { kind: "bbox", class_id: cls.id, start: point, end: point };
      this.drag = { kind: "box" };
      return true;
    }
    if (cls.kind === "keypoints") {
      const names = cls.skeleton?.keypoints || [];
      if (this.draft?.kind !== "keypoints") this.draft = { kind: "keypoints", class_id: cls.id, keypoints: [] };
      this.draft.keypoints.push([point[0], point[1], hidden ? 1 : 2]); // Shift: hidden
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
    window.addEventListener("mouseup", (e) => this.mouseUp(e));
    c.addEventListener("dblclick", (e) => {
      e.preventDefault();
      if (this.draft && "points" in this.draft) {
        this.draft.points.pop(); // the second click of the double-click added a point
        this.finishDraft();
      } else if (this.editable && !this.draft && !this.currentClass) {
        this.insertPointAt(this.clamp(this.toImage(this.screenPoint(e))));
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
      this.drawAt(point, e.shiftKey); // the next point of a polygon, line or skeleton
      return;
    }
    if (this.tool?.down(point, e)) {
      this.drag = { kind: "tool" };
      return;
    }
    const handle = this.handleAt(point);
    // Alt on a point: a polygon's or line's is taken out, a keypoint is hidden or shown again.
    if (handle >= 0 && e.altKey && this.selected >= 0 && this.selectedProposal < 0) {
      this.pointAction(handle);
      return;
    }
    if (handle >= 0) {
      // A proposal is accepted as edited, and an undo step taken, once the handle moves.
      this.drag = { kind: "handle", handle, proposal: this.selectedProposal >= 0, moved: false };
      return;
    }
    // On the selected outline's edge in select mode: kept selected (a double-click adds a point).
    const selected = this.shapes[this.selected];
    if (!this.currentClass && selected && edgeAt(selected, point, HANDLE / this.scale) >= 0) return;
    // No class chosen (select mode), or Alt held: a click selects the shape (or proposal) under it.
    if (!this.currentClass || e.altKey || !this.drawAt(point, e.shiftKey)) this.pick(point);
  }

  /** @param {number} handle the selected shape's: its point removed, or its keypoint hidden/shown */
  pointAction(handle) {
    const shape = this.shapes[this.selected];
    const copy = structuredClone(shape);
    const changed = shape.kind === "keypoints" ? toggleHidden(copy, handle) : removePoint(copy, handle);
    if (!changed) return;
    this.snapshot();
    Object.assign(shape, copy);
    this.markEdited(shape);
    this.changed();
  }

  /**
   * A point added to the selected polygon or line where `point` is on its edge.
   * @param {Point} point
   * @returns {boolean} whether one was added
   */
  insertPointAt(point) {
    const shape = this.shapes[this.selected];
    const at = shape ? edgeAt(shape, point, HANDLE / this.scale) : -1;
    if (at < 0 || !("points" in shape)) return false;
    this.snapshot();
    shape.points.splice(at, 0, point);
    this.markEdited(shape);
    this.changed();
    return true;
  }

  /** @param {Point} point select what is there: a proposal first (they await a decision), else a shape */
  pick(point) {
    const proposal = this.hit(point, this.proposals);
    if (proposal >= 0) this.selectProposal(proposal);
    else this.select(this.hit(point));
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
    if (this.drag?.kind === "tool") {
      this.tool?.move(point);
    } else if (this.drag?.kind === "handle") {
      if (!this.drag.moved) {
        this.drag.moved = true;
        if (this.drag.proposal) this.acceptProposal(this.selectedProposal, true);
        else {
          this.snapshot();
          this.markEdited(this.shapes[this.selected]);
        }
      }
      moveHandle(this.shapes[this.selected], this.drag.handle, point);
      this.render();
    } else if (this.drag?.kind === "box") {
      if (this.draft?.kind === "bbox") this.draft.end = point;
      this.render();
    } else if (this.draft) {
      this.hover = point;
      this.render();
    }
  }

  /** @param {MouseEvent} e */
  mouseUp(e) {
    const drag = this.drag;
    this.drag = null;
    if (drag?.kind === "tool") this.tool?.up(this.clamp(this.toImage(this.screenPoint(e))), e);
    if (drag?.kind === "handle" && drag.moved) this.changed();
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
    this.shapes.forEach((shape, i) => drawShape(this, shape, i === this.selected, this.errors.get(i)));
    this.proposals.forEach((shape, i) => drawShape(this, shape, i === this.selectedProposal, undefined, true));
    if (this.draft) drawDraft(this);
    this.tool?.draw(ctx);
  }
}
