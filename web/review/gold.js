// @ts-check
// The desk's gold checks: how the annotator under review did on the project's gold tasks, and
// any of them beside the known answer, so a reviewer judges a submission knowing its author's
// record (GET /v1/projects/{id}/gold/results).
import { ImageCanvas } from "/ui/common/canvas.js";
import { api, byId as $, clear, el, percent, toast } from "/ui/common/common.js";

/** @typedef {import("/ui/common/canvas.js").Annotation} Annotation */
/** @typedef {import("/ui/common/canvas.js").OntologyClass} OntologyClass */
/**
 * @typedef {{ submission_id: string, gold_id: string, item_id: string, clip: number | null,
 *   annotator_id: string, score: number, at: string }} GoldResult
 * @typedef {GoldResult & { image: { url: string, width: number, height: number }, classes: OntologyClass[],
 *   submitted: Annotation, answer: Annotation }} GoldComparison
 */

const SHOWN = 5;

/**
 * List the annotator's latest gold results in the project (none: the box stays hidden).
 * @param {{ project_id: string, annotator_id: string }} unit
 */
export async function showGoldChecks(unit) {
  const box = $("gold-box");
  box.hidden = true;
  clear($("gold-side"));
  const path = `/v1/projects/${unit.project_id}/gold/results`;
  const results = /** @type {GoldResult[]} */ (await api("review", "GET", path, undefined, { annotator_id: unit.annotator_id, limit: SHOWN }));
  if (!results.length) return;
  const mean = results.reduce((total, r) => total + r.score, 0) / results.length;
  $("gold-summary").textContent = `${unit.annotator_id}'s last ${results.length} gold tasks: ${percent(mean)} on average`;
  clear(
    $("gold-results"),
    results.map((r) =>
      el(
        "li",
        {},
        `${percent(r.score)} · ${new Date(r.at).toLocaleString()}${r.clip === null ? "" : ` · clip ${r.clip + 1}`} `,
        r.clip === null ? el("button", { type: "button", onclick: () => compare(path, r.submission_id) }, "Compare") : null,
      ),
    ),
  );
  box.hidden = false;
}

/**
 * Their shapes and the known answer, each on its own copy of the picture.
 * @param {string} path
 * @param {string} submissionId
 */
async function compare(path, submissionId) {
  const side = /** @type {GoldComparison} */ (await api("review", "GET", `${path}/${submissionId}`));
  const views = [
    { title: `${side.annotator_id} · ${percent(side.score)}`, shapes: side.submitted.shapes },
    { title: "the known answer", shapes: side.answer.shapes },
  ].map((v) => ({ ...v, canvas: el("canvas", { "aria-label": v.title }) }));
  clear($("gold-side"), views.map((v) => el("div", {}, el("div", { class: "muted" }, v.title), v.canvas)));
  for (const v of views) {
    const view = new ImageCanvas(v.canvas);
    view.setClasses(side.classes);
    await view.load(side.image.url, side.image.width, side.image.height, v.shapes);
  }
}

/**
 * The unit's answer as shown kept as its gold (known) answer: a picture's shapes as they are on
 * the desk (corrected or not), a clip's tracks, a part's transcript as submitted.
 * @param {{ project_id: string, item_id: string, clip?: { index?: number } | null,
 *   tracks?: unknown, audio?: { part: number } | null, transcript?: unknown }} unit
 * @param {Annotation["shapes"]} shapes what the desk's canvas shows
 */
export async function keepAsGold(unit, shapes) {
  const body = unit.audio
    ? { item_id: unit.item_id, clip: unit.audio.part, transcript: unit.transcript }
    : unit.clip
      ? { item_id: unit.item_id, clip: unit.clip.index, tracks: unit.tracks }
      : { item_id: unit.item_id, annotation: { shapes } };
  await api("review", "POST", `/v1/projects/${unit.project_id}/gold`, body);
  toast("Kept as gold: dispatch mixes it into the project's work at its gold rate.");
}
