// @ts-check
// "Copy previous": the shapes a person submitted on their last picture of the same project and
// batch (the frame before, in a sequence of street pictures), put on the open task to adjust
// rather than redraw. Kept in the tab's session storage, so a reload keeps it and nothing
// leaves the browser.

/** @typedef {import("/ui/common/canvas.js").Shape} Shape */
/** @typedef {import("/ui/common/canvas.js").ImageCanvas} ImageCanvas */
/** @typedef {import("/ui/common/canvas.js").OntologyClass} OntologyClass */
/**
 * What the copy needs of a task.
 * @typedef {{ project_id: string, batch_id?: string | null, item_id: string, classes: OntologyClass[],
 *   image: { width: number, height: number }, video?: unknown, audio?: unknown }} TaskLike
 * @typedef {{ project_id: string, batch_id: string | null, item_id: string, width: number, height: number, shapes: Shape[] }} Remembered
 */

export class PreviousShapes {
  /** @param {string} subject the person: one memory each, on a shared computer */
  constructor(subject) {
    this.key = `aviary.previous.${subject}`;
  }

  /** @returns {Remembered | null} */
  read() {
    try {
      return JSON.parse(sessionStorage.getItem(this.key) || "null");
    } catch {
      return null;
    }
  }

  /**
   * After a picture's submit: its shapes (the whole-image classes too).
   * @param {TaskLike} task
   * @param {Shape[]} shapes
   */
  remember(task, shapes) {
    if (task.video || task.audio) return;
    /** @type {Remembered} */
    const kept = { project_id: task.project_id, batch_id: task.batch_id ?? null, item_id: task.item_id, width: task.image.width, height: task.image.height, shapes };
    sessionStorage.setItem(this.key, JSON.stringify(kept));
  }

  /** @param {TaskLike} task @returns {Remembered | null} the shapes there are to copy onto it */
  available(task) {
    const kept = this.read();
    if (!kept || task.video || task.audio) return null;
    const same = kept.project_id === task.project_id && kept.batch_id === (task.batch_id ?? null) && kept.item_id !== task.item_id;
    return same && kept.shapes.length ? kept : null;
  }

  /**
   * Put the remembered shapes on the canvas (one undo step): those of a class the task's
   * ontology has with the same kind, as drawn by hand.
   * @param {TaskLike} task
   * @param {ImageCanvas} canvas
   * @returns {{ copied: number, whole: number[], refusal: string | null }} the shapes put, the whole-image classes to tick
   */
  copy(task, canvas) {
    const kept = this.available(task);
    if (!kept) return { copied: 0, whole: [], refusal: "no previous picture of this batch" };
    if (kept.width !== task.image.width || kept.height !== task.image.height) {
      return { copied: 0, whole: [], refusal: `the previous picture is ${kept.width}×${kept.height}, this one ${task.image.width}×${task.image.height}` };
    }
    const kinds = new Map(task.classes.map((c) => [c.id, c.kind]));
    const fitting = kept.shapes.filter((s) => kinds.get(s.class_id) === s.kind);
    const drawn = fitting.filter((s) => s.kind !== "classification").map(({ source: _, ...shape }) => structuredClone(shape));
    if (drawn.length) {
      canvas.snapshot();
      for (const shape of drawn) canvas.shapes.push(/** @type {Shape} */ (shape));
      canvas.changed();
    }
    return { copied: drawn.length, whole: fitting.filter((s) => s.kind === "classification").map((s) => s.class_id), refusal: null };
  }
}
