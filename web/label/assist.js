// @ts-check
// The labeling page's assist mode (key A): a box dragged around an object, or a click inside
// one, goes to the assist service (POST /v1/assist/segment), and the outline it answers comes
// back as a proposal of the current class: a polygon, a mask (its RLE kept for the
// submission, its outline drawn) or a box, as the class's kind asks. Clicks inside add to the
// object, Alt- or Shift-clicks take away; each asks again with the same box and every click so
// far. Enter accepts it, as any proposal; its source names the segmenter (`grabcut`, or a
// model as `name@version`). The time each answer took shows in the status line.
import { ApiError, api, messageOf, services } from "/ui/common/common.js";
import { rememberOutline } from "/ui/common/rle.js";

/** @typedef {import("/ui/common/canvas.js").CanvasTool} CanvasTool */
/** @typedef {import("/ui/common/canvas.js").ImageCanvas} ImageCanvas */
/** @typedef {import("/ui/common/canvas.js").OntologyClass} OntologyClass */
/** @typedef {import("/ui/common/canvas.js").Point} Point */
/** @typedef {import("/ui/common/canvas.js").Shape} Shape */
/** A click for the segmenter (the contracts' assist.Click). @typedef {{ x: number, y: number, positive: boolean }} Click */
/**
 * What the assist service answers (the contracts' assist.SegmentResult).
 * @typedef {{ polygon: [number, number][], rle: import("/ui/common/rle.js").Rle,
 *   bbox: [number, number, number, number], score: number, model: string, elapsed_ms: number }} SegmentResult
 */
/**
 * What the mode tells its page: the item asked about, a line of status, the mode's switching.
 * @typedef {{ itemId: () => string | null, status: (text: string, error?: boolean) => void, toggled: (on: boolean) => void }} Hooks
 */

const KINDS = ["polygon", "mask", "bbox"]; // the kinds an outline can become
const CLICK_PX = 4; // a press that moves less than this (screen pixels) is a click, not a box
const HELP = "Assist: drag a box around an object, or click inside it; click to add, Alt+click to take away; Enter accepts.";

/**
 * The proposal an answer makes for a class.
 * @param {SegmentResult} result
 * @param {OntologyClass} cls
 * @param {ImageCanvas} canvas
 * @returns {Shape | null} null when the segmenter found nothing
 */
export function shapeOf(result, cls, canvas) {
  const source = { by: /** @type {const} */ ("model"), model: result.model };
  const [x, y, w, h] = result.bbox;
  if (!(w > 0 && h > 0)) return null;
  if (cls.kind === "bbox") return { kind: "bbox", class_id: cls.id, bbox: [x, y, w, h], attributes: {}, source };
  if (cls.kind === "mask") {
    rememberOutline(result.rle, result.polygon);
    return { kind: "mask", class_id: cls.id, rle: result.rle, attributes: {}, source };
  }
  if (result.polygon.length < 3) return null;
  return { kind: "polygon", class_id: cls.id, points: result.polygon.map((p) => canvas.clamp(p)), attributes: {}, source };
}

/** @implements {CanvasTool} */
export class AssistMode {
  /**
   * @param {ImageCanvas} canvas
   * @param {Hooks} hooks
   */
  constructor(canvas, hooks) {
    this.canvas = canvas;
    this.hooks = hooks;
    this.on = false;
    /** @type {[number, number, number, number] | null} */
    this.box = null; // the object's box, asked with every click
    /** @type {Click[]} */
    this.clicks = [];
    /** @type {Shape | null} */
    this.proposal = null; // the answer, among the canvas's proposals until decided
    /** @type {{ start: Point, end: Point, negative: boolean } | null} */
    this.press = null;
    this.asked = 0; // the latest request: an older one answering late is ignored
  }

  /** @param {boolean} [on] */
  toggle(on = !this.on) {
    this.on = on;
    this.canvas.tool = on ? this : null;
    this.forget(); // the object's outline, if undecided, stays up as a proposal
    this.hooks.toggled(on);
    this.hooks.status(on ? HELP : "");
    this.canvas.render();
  }

  forget() {
    this.box = null;
    this.clicks = [];
    this.proposal = null;
    this.press = null;
    this.asked++;
  }

  /** Its object is over once its proposal is decided (accepted, dropped, or undone). */
  settle() {
    if (this.proposal && !this.canvas.proposals.includes(this.proposal)) this.forget();
  }

  /** @returns {boolean} whether there was an object under way, now dropped */
  cancel() {
    this.settle();
    if (!this.box && !this.clicks.length && !this.proposal) return false;
    const at = this.proposal ? this.canvas.proposals.indexOf(this.proposal) : -1;
    if (at >= 0) this.canvas.proposals.splice(at, 1);
    this.forget();
    this.canvas.select(-1);
    this.canvas.changed();
    this.hooks.status(HELP);
    return true;
  }

  /**
   * @param {Point} point
   * @param {MouseEvent} event
   */
  down(point, event) {
    if (!this.on) return false;
    this.press = { start: point, end: point, negative: event.altKey || event.shiftKey };
    return true;
  }

  /** @param {Point} point */
  move(point) {
    if (!this.press) return;
    this.press.end = point;
    this.canvas.render();
  }

  /** @param {Point} point */
  up(point) {
    const press = this.press;
    this.press = null;
    if (!press) return;
    this.settle();
    const [a, b] = [this.canvas.toScreen(press.start), this.canvas.toScreen(point)];
    if (Math.abs(a[0] - b[0]) >= CLICK_PX && Math.abs(a[1] - b[1]) >= CLICK_PX) {
      // A new box: the object starts again (an undecided outline of it is replaced).
      const [s, e] = [press.start, point];
      this.box = [Math.min(s[0], e[0]), Math.min(s[1], e[1]), Math.abs(e[0] - s[0]), Math.abs(e[1] - s[1])];
      this.clicks = [];
    } else {
      this.clicks.push({ x: point[0], y: point[1], positive: !press.negative });
    }
    this.ask();
  }

  async ask() {
    const cls = this.canvas.currentClass;
    const itemId = this.hooks.itemId();
    if (!cls || !KINDS.includes(cls.kind)) {
      this.hooks.status("Choose a class of boxes, outlines or masks first (1–9).", true);
      return;
    }
    if (!itemId) return;
    if (!(await services()).assist) {
      this.hooks.status("Assist is not set up on this platform (no assist service among the public URLs).", true);
      return;
    }
    const asked = ++this.asked;
    const started = performance.now();
    this.hooks.status("Assist: asking…");
    this.canvas.render();
    try {
      const body = { item_id: itemId, box: this.box, clicks: this.clicks };
      const result = /** @type {SegmentResult} */ (await api("assist", "POST", "/v1/assist/segment", body));
      if (asked !== this.asked) return;
      const took = Math.round(performance.now() - started);
      const shape = shapeOf(result, cls, this.canvas);
      if (!shape) {
        this.hooks.status(`${result.model} found nothing there (${took} ms): try a larger box, or click inside the object.`, true);
        return;
      }
      const replacing = this.proposal;
      this.proposal = shape; // before the canvas draws it (and the mode settles)
      this.canvas.propose(shape, replacing);
      this.hooks.status(`${result.model}: ${took} ms (${Math.round(result.elapsed_ms)} ms in assist) · Enter accepts; click to add, Alt+click to take away.`);
    } catch (error) {
      if (asked !== this.asked) return;
      this.hooks.status(error instanceof ApiError ? error.message : `Assist did not answer: ${messageOf(error)}`, true);
    }
  }

  /** @param {CanvasRenderingContext2D} ctx */
  draw(ctx) {
    if (!this.on) return;
    this.settle(); // an accepted outline's box and clicks go (and a late answer for it is ignored)
    ctx.lineWidth = 1.5;
    ctx.setLineDash([4, 4]);
    ctx.strokeStyle = "#ffffff";
    const rect = this.press ? [this.press.start, this.press.end] : this.box ? [[this.box[0], this.box[1]], [this.box[0] + this.box[2], this.box[1] + this.box[3]]] : null;
    if (rect) {
      const [a, b] = rect.map((p) => this.canvas.toScreen(p));
      ctx.strokeRect(Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.abs(b[0] - a[0]), Math.abs(b[1] - a[1]));
    }
    ctx.setLineDash([]);
    for (const click of this.clicks) {
      const [x, y] = this.canvas.toScreen([click.x, click.y]);
      ctx.beginPath();
      ctx.arc(x, y, 5, 0, Math.PI * 2);
      ctx.fillStyle = click.positive ? "#5ad19a" : "#ff6b6b";
      ctx.fill();
      ctx.strokeStyle = "#111";
      ctx.stroke();
    }
  }
}
