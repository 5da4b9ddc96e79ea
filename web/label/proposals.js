// @ts-check
// The labeling page's side of a model's proposals: the Proposals panel (how many are left,
// which is selected), the status line under the image (the assist mode's help and answers),
// a shape's provenance in words, and Shift+1–9 (another class for the selected shape).
import { proposalLabel } from "/ui/common/canvas.js";
import { byId as $, clear, el, toast } from "/ui/common/common.js";

/** @typedef {import("/ui/common/canvas.js").ImageCanvas} ImageCanvas */
/** @typedef {import("/ui/common/canvas.js").OntologyClass} OntologyClass */
/** @typedef {import("/ui/common/canvas.js").ShapeSource} ShapeSource */

/** @param {ShapeSource} source */
export function describeSource(source) {
  const confidence = typeof source.confidence === "number" ? ` (${source.confidence.toFixed(2)})` : "";
  const model = `${source.model || "a model"}${confidence}`;
  return source.by === "model_edited" ? `edited, proposed by ${model}` : `by ${model}`;
}

/** @param {ImageCanvas} canvas the proposals left, and the one selected */
export function showProposals(canvas) {
  const left = canvas.proposals.length;
  $("proposals-box").hidden = !left;
  if (!left) return;
  const shape = canvas.proposals[canvas.selectedProposal];
  const name = shape ? canvas.classes.get(shape.class_id)?.name || `class ${shape.class_id}` : "";
  clear(
    $("proposals"),
    el("div", {}, `${left} to decide, least confident first (Tab).`),
    // "car 0.62 · det@1"; a proposal without a confidence names its model already ("car · grabcut").
    shape ? el("div", { id: "proposal-selected" }, proposalLabel(name, shape.source) + (typeof shape.source?.confidence === "number" ? ` · ${shape.source.model}` : "")) : null,
  );
  $("accept-proposal", HTMLButtonElement).disabled = !shape;
  $("drop-proposal", HTMLButtonElement).disabled = !shape;
}

/**
 * The line under the image: the assist mode's help and answers, proposals' keys.
 * @param {string} text "" hides it
 * @param {boolean} [error]
 */
export function status(text, error = false) {
  $("status").hidden = !text;
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

/**
 * Shift+1–9: the selected shape (or proposal, then accepted as edited) gets that class, when it
 * is of the same kind.
 * @param {ImageCanvas} canvas
 * @param {OntologyClass[]} classes the task's
 * @param {number} n the class's shortcut
 */
export function reclass(canvas, classes, n) {
  const cls = classes.filter((c) => c.kind !== "classification")[n - 1];
  const shape = canvas.current();
  if (!cls || !shape || shape.class_id === cls.id) return;
  if (cls.kind !== shape.kind) return toast(`${cls.name} takes ${cls.kind} shapes, not ${shape.kind}.`, "error");
  const index = canvas.selectedProposal >= 0 ? canvas.acceptProposal(canvas.selectedProposal, true) : canvas.selected;
  canvas.setClass(index, cls.id);
}
