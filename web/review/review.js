// @ts-check
// The review desk: the submission over the image (a video clip's frames, an audio part's
// waveform), every annotator's version when they disagreed, accept / reject with a reason /
// correct the shapes; and the appeals queue.
import { ImageCanvas, colorOf } from "/ui/common/canvas.js";
import { ApiError, api, byId as $, clear, downloadMyData, el, messageOf, requireLogin, setupTheme, showWho, signOut, toast } from "/ui/common/common.js";
import { timesOf } from "/ui/common/segments.js";
import { keepAsGold, showGoldChecks } from "./gold.js";
import { AudioDesk, wordDiff } from "./listen.js";
import { ClipPlayer } from "./player.js";

/** @typedef {import("/ui/common/canvas.js").Annotation} Annotation */
/** @typedef {import("/ui/common/canvas.js").OntologyClass} OntologyClass */
/** @typedef {import("/ui/common/canvas.js").ShapeError} ShapeError */
/** @typedef {import("/ui/common/common.js").Claims} Claims */
/** @typedef {import("/ui/common/segments.js").Transcript} Transcript */
/**
 * A submission or a consensus dispute to review, or an appeal (POST /v1/reviews/next,
 * /v1/appeals/next).
 * @typedef {object} ReviewUnit
 * @property {string} id
 * @property {"submission" | "consensus"} kind
 * @property {string} project_id
 * @property {string} item_id
 * @property {string} annotator_id
 * @property {Annotation} annotation
 * @property {{ annotator_id: string, annotation: Annotation, agreement: number | null, tracks?: { tracks: import("/ui/common/tracks.js").Track[] } | null,
 *   transcript?: Transcript | null, word_diff?: import("./listen.js").DiffOp[] | null }[]} overlaps
 *   every annotator's version, when they disagreed (an audio part's: its segments, and its
 *   words against the agreed text)
 * @property {number | null} agreement
 * @property {OntologyClass[]} classes
 * @property {string[]} reject_reasons
 * @property {string} [instructions] the project's, as the annotator saw them
 * @property {{ url: string, width: number, height: number }} image
 * @property {number} rework
 * @property {string | null} [appeal_comment]
 * @property {{ reason: string, comment: string } | null} [rejection]
 * @property {import("./player.js").ClipUnit["clip"] | null} [clip] a video clip's frames
 * @property {string[] | null} [frames] the clip's frames, as URLs
 * @property {{ tracks: import("/ui/common/tracks.js").Track[] } | null} [tracks] the clip's tracks (a dispute: the agreed ones)
 * @property {number | null} [identity_switches] a disputed clip: how often the versions' ids disagree
 * @property {import("/ui/common/segments.js").AudioView | null} [audio] an audio part's recording
 * @property {Transcript | null} [transcript] the part's segments (a dispute: the agreed ones)
 */
/** @typedef {{ status: string }} DecisionResult */
/** @typedef {{ unit: ReviewUnit | null, appeal: boolean, player: ClipPlayer | null, audio: AudioDesk | null }} State */

const me = requireLogin($("app"), ["reviewer"], "Aviary review desk: sign in");
if (me) start(me);

/** @param {Claims} me */
function start(me) {
  setupTheme($("theme"));
  $("signout").addEventListener("click", signOut);
  $("mydata").addEventListener("click", () => downloadMyData().catch((e) => toast(e.message, "error")));
  showWho($("who"), me);
  /** @type {State} */
  const state = { unit: null, appeal: false, player: null, audio: null };
  const canvas = new ImageCanvas($("canvas", HTMLCanvasElement), { editable: true });
  state.player = new ClipPlayer(canvas);
  // An audio part: the segment selected on the waveform is the one a rejection names.
  const rejectSegment = $("reject-segment", HTMLSelectElement);
  const desk = new AudioDesk($("desk-audio"), (id) => (rejectSegment.value = id ?? ""));
  rejectSegment.addEventListener("change", () => desk.select(rejectSegment.value || null));
  state.audio = desk;
  Object.assign(window, { aviaryCanvas: canvas, aviaryPlayer: state.player, aviaryDesk: desk }); // for browser tests and the console
  $("next-review").addEventListener("click", () => load(state, canvas, "/v1/reviews/next", false));
  $("next-appeal").addEventListener("click", () => load(state, canvas, "/v1/appeals/next", true));
  $("accept").addEventListener("click", () => decide(state, canvas, "accept"));
  $("keep-gold").addEventListener("click", () => {
    if (state.unit) keepAsGold(state.unit, canvas.shapes).catch((error) => toast(messageOf(error), "error"));
  });
  $("reject").addEventListener("click", () => decide(state, canvas, "reject"));
  $("correct").addEventListener("click", () => decide(state, canvas, "correct"));
  $("overturn").addEventListener("click", () => decideAppeal(state, canvas, "overturn"));
  $("uphold").addEventListener("click", () => decideAppeal(state, canvas, "uphold"));
  window.addEventListener("keydown", (e) => {
    if (e.target instanceof HTMLTextAreaElement || e.target instanceof HTMLSelectElement || e.target instanceof HTMLInputElement) return;
    if (state.unit?.audio) {
      if (desk.key(e)) e.preventDefault();
      return;
    }
    const player = state.unit?.clip ? state.player : null;
    if (player && e.key === "ArrowRight") player.timeline.step(1);
    else if (player && e.key === "ArrowLeft") player.timeline.step(-1);
    else if (player && e.key.toLowerCase() === "p") player.timeline.togglePlay();
    else if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z") canvas.undo();
    else if (e.key === "Delete") canvas.removeSelected();
    else if (e.key === "Enter") canvas.finishDraft();
    else if (e.key.toLowerCase() === "v" || e.key === "Escape") canvas.currentClass = null;
  });
}

/**
 * @param {State} state
 * @param {ImageCanvas} canvas
 * @param {string} path
 * @param {boolean} appeal
 */
async function load(state, canvas, path, appeal) {
  // The call waits up to 20 s for work to arrive: a submission reaches the desk a moment
  // after the annotator's submit returns.
  const button = $(appeal ? "next-appeal" : "next-review", HTMLButtonElement);
  const label = button.textContent;
  button.disabled = true;
  button.textContent = "Looking for work…";
  try {
    const unit = /** @type {ReviewUnit | null} */ (await api("review", "POST", path, undefined, { wait_s: 20 }));
    if (unit === null) {
      toast(appeal ? "No appeals waiting." : "Nothing to review right now.");
      return;
    }
    state.unit = unit;
    state.appeal = appeal;
    canvas.setClasses(unit.classes);
    canvas.currentClass = null;
    // An audio part: the waveform and its segments instead of the image (its `image`, the
    // waveform picture, is not shown).
    $("canvas").hidden = Boolean(unit.audio);
    $("image-tools").hidden = Boolean(unit.audio);
    $("audio-keys").hidden = !unit.audio;
    $("audio-reject").hidden = !unit.audio;
    if (unit.audio && state.audio) {
      state.player?.close();
      const segments = unit.transcript?.segments || [];
      clear(
        $("reject-segment"),
        el("option", { value: "" }, "the whole part"),
        segments.map((s) => el("option", { value: s.segment_id }, `${timesOf(s)} ${s.speaker || ""} ${s.text.slice(0, 40)}`.trim())),
      );
      await state.audio.open({ audio: unit.audio, transcript: unit.transcript });
    } else if (unit.clip && unit.frames && state.player) {
      state.audio?.close();
      await state.player.open({ clip: unit.clip, frames: unit.frames, tracks: unit.tracks ?? null, image: unit.image });
    } else {
      state.audio?.close();
      state.player?.close();
      await canvas.load(unit.image.url, unit.image.width, unit.image.height, unit.annotation.shapes);
    }
    $("correct").hidden = Boolean(unit.clip || unit.audio); // tracks and transcripts are not corrected on the desk
    $("empty").hidden = true;
    $("decide").hidden = appeal;
    $("appeal").hidden = !appeal;
    $("error").textContent = "";
    $("comment", HTMLTextAreaElement).value = "";
    clear($("reason"), unit.reject_reasons.map((r) => el("option", { value: r }, r)));
    clear(
      $("meta"),
      el("div", {}, `by ${unit.annotator_id}`),
      el("div", {}, unit.kind === "consensus" ? `disputed: agreement ${Math.round((unit.agreement ?? 0) * 100)} %` : `rework #${unit.rework}`),
      unit.audio ? el("div", {}, `part ${unit.audio.part + 1} of ${unit.audio.parts} · ${timesOf(unit.audio)}`) : null,
      unit.identity_switches ? el("div", {}, `identity switches between versions: ${unit.identity_switches}`) : null,
    );
    clear(
      $("classes"),
      unit.classes
        .filter((c) => c.kind !== "classification")
        .map((cls) =>
          el(
            "button",
            { type: "button", onclick: () => (canvas.currentClass = cls) },
            el("span", { class: "swatch", style: { background: colorOf(cls.id) } }),
            cls.name,
          ),
        ),
    );
    if (appeal) {
      clear(
        $("appeal-text"),
        unit.rejection ? el("div", { class: "comment" }, `Rejected: ${unit.rejection.reason}. ${unit.rejection.comment}`) : null,
        el("div", { class: "instructions" }, `The annotator says: ${unit.appeal_comment || ""}`),
      );
    }
    showUnitInfo(unit, canvas);
    await showOverlaps(unit, state, canvas);
    // The author's gold record beside their work (a dispute has several authors).
    if (unit.kind === "submission") showGoldChecks(unit).catch((error) => toast(messageOf(error), "error"));
    else $("gold-box").hidden = true;
  } catch (error) {
    toast(messageOf(error), "error");
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

/**
 * What the reviewer judges by besides the picture: the project's instructions, the whole-image
 * classes chosen, and every shape with its class, attributes and origin (a click selects it).
 * @param {ReviewUnit} unit
 * @param {ImageCanvas} canvas
 */
function showUnitInfo(unit, canvas) {
  const image = !unit.audio && !unit.clip;
  $("unit-info").hidden = !image && !unit.instructions;
  const names = new Map(unit.classes.map((c) => [c.id, c.name]));
  const shapes = unit.annotation.shapes;
  const whole = shapes.filter((s) => s.kind === "classification").map((s) => names.get(s.class_id) ?? `class ${s.class_id}`);
  $("whole-image").textContent = whole.length ? whole.join(", ") : "no class for the whole image";
  clear(
    $("shape-list"),
    shapes.map((shape, index) =>
      shape.kind === "classification"
        ? null
        : el(
            "li",
            { dataset: { index: String(index) }, onclick: () => canvas.select(index) },
            `${names.get(shape.class_id) ?? shape.class_id} (${shape.kind}${shape.kind === "bbox" && shape.rotation ? `, turned ${shape.rotation}°` : ""}${shape.kind === "polyline" && shape.smooth ? ", curve" : ""})`,
            Object.entries(shape.attributes || {}).map(([k, v]) => el("div", { class: "muted" }, `${k}: ${String(v)}`)),
            shape.source && shape.source.by !== "human" ? el("div", { class: "muted" }, `${shape.source.by} ${shape.source.model ?? ""}`.trim()) : null,
          ),
    ),
  );
  $("instructions").textContent = unit.instructions || "none";
}

/**
 * @param {ReviewUnit} unit
 * @param {State} state
 * @param {ImageCanvas} canvas
 */
async function showOverlaps(unit, state, canvas) {
  $("overlaps-box").hidden = !unit.overlaps.length;
  if (unit.audio && state.audio) {
    showAudioVersions(unit, state, canvas);
    return;
  }
  if (unit.clip && state.player) {
    showClipVersions(unit, state, canvas);
    return;
  }
  const boxes = unit.overlaps.map((o) => {
    const c = el("canvas", { "aria-label": `version of ${o.annotator_id}` });
    return { o, c, node: el("div", {}, el("div", { class: "muted" }, `${o.annotator_id} · agreement ${Math.round((o.agreement ?? 0) * 100)} %`), c) };
  });
  clear($("overlaps"), boxes.map((b) => b.node));
  for (const { o, c } of boxes) {
    const view = new ImageCanvas(c);
    view.setClasses(unit.classes);
    await view.load(unit.image.url, unit.image.width, unit.image.height, o.annotation.shapes);
  }
}

/**
 * A disputed clip: each annotator's tracks, to play over the clip and to settle with.
 * @param {ReviewUnit} unit
 * @param {State} state
 * @param {ImageCanvas} canvas
 */
function showClipVersions(unit, state, canvas) {
  const player = /** @type {import("./player.js").ClipPlayer} */ (state.player);
  const agreed = el("button", { type: "button", onclick: () => player.useTracks(unit.tracks?.tracks || []) }, "Show agreed");
  const rows = unit.overlaps.map((o) => {
    const tracks = o.tracks?.tracks || [];
    return el(
      "div",
      { class: "version" },
      el("span", { class: "muted" }, `${o.annotator_id} · ${tracks.length} tracks · agreement ${Math.round((o.agreement ?? 0) * 100)} %`),
      el("button", { type: "button", onclick: () => player.useTracks(tracks) }, "Show"),
      el("button", { type: "button", onclick: () => settleWith(state, canvas, { tracks: { tracks } }) }, "Settle with this version"),
    );
  });
  clear($("overlaps"), agreed, rows);
}

/**
 * A disputed part: each annotator's segments, to play on the waveform, their words against the
 * agreed text, and to settle with.
 * @param {ReviewUnit} unit
 * @param {State} state
 * @param {ImageCanvas} canvas
 */
function showAudioVersions(unit, state, canvas) {
  const desk = /** @type {AudioDesk} */ (state.audio);
  const agreed = el("button", { type: "button", onclick: () => desk.show(unit.transcript) }, "Show agreed");
  const rows = unit.overlaps.map((o) => {
    const transcript = o.transcript || { segments: [] };
    return el(
      "div",
      { class: "version" },
      el("div", { class: "muted" }, `${o.annotator_id} · ${transcript.segments.length} segments · agreement ${Math.round((o.agreement ?? 0) * 100)} %`),
      wordDiff(o.word_diff || []),
      el(
        "div",
        { class: "actions" },
        el("button", { type: "button", onclick: () => desk.show(transcript) }, "Show"),
        el("button", { type: "button", onclick: () => settleWith(state, canvas, { transcript }) }, "Settle with this version"),
      ),
    );
  });
  clear($("overlaps"), agreed, rows);
}

/**
 * Settle a dispute with one annotator's version: sent as the correction.
 * @param {State} state
 * @param {ImageCanvas} canvas
 * @param {{ tracks: { tracks: import("/ui/common/tracks.js").Track[] } } | { transcript: Transcript }} version
 */
async function settleWith(state, canvas, version) {
  const unit = state.unit;
  if (!unit) return;
  try {
    const result = /** @type {DecisionResult} */ (await api("review", "POST", `/v1/reviews/${unit.id}/correct`, version));
    toast(`${result.status}`, "ok");
    finish(state, canvas);
  } catch (error) {
    $("error").textContent = messageOf(error);
  }
}

/**
 * @param {State} state
 * @param {ImageCanvas} canvas
 * @param {"accept" | "reject" | "correct"} action
 */
async function decide(state, canvas, action) {
  const unit = state.unit;
  if (!unit) return;
  const path = `/v1/reviews/${unit.id}/${action}`;
  const comment = $("comment", HTMLTextAreaElement).value.trim();
  if (action === "reject" && !comment) {
    $("error").textContent = "Tell the annotator what to fix.";
    return;
  }
  const body =
    action === "reject"
      ? {
          reason: $("reason", HTMLSelectElement).value,
          comment,
          ...(unit.clip && state.player ? state.player.rejected() : {}),
          ...(unit.audio && $("reject-segment", HTMLSelectElement).value ? { segment_id: $("reject-segment", HTMLSelectElement).value } : {}),
        }
      : action === "correct"
        ? { annotation: { shapes: canvas.shapes } }
        : undefined;
  try {
    const result = /** @type {DecisionResult} */ (await api("review", "POST", path, body));
    toast(`${result.status}`, "ok");
    finish(state, canvas);
  } catch (error) {
    $("error").textContent = messageOf(error);
    if (error instanceof ApiError && error.code === "invalid_annotation") canvas.showErrors(/** @type {ShapeError[] | null} */ (error.details));
  }
}

/**
 * @param {State} state
 * @param {ImageCanvas} canvas
 * @param {"overturn" | "uphold"} decision
 */
async function decideAppeal(state, canvas, decision) {
  const unit = state.unit;
  const comment = $("appeal-comment", HTMLTextAreaElement).value.trim();
  if (!unit || !comment) {
    toast("Give the reason for your decision.", "error");
    return;
  }
  try {
    await api("review", "POST", `/v1/appeals/${unit.id}/decide`, { decision, comment });
    toast(`appeal ${decision === "overturn" ? "overturned" : "upheld"}`, "ok");
    $("appeal-comment", HTMLTextAreaElement).value = "";
    finish(state, canvas);
  } catch (error) {
    toast(messageOf(error), "error");
  }
}

/**
 * @param {State} state
 * @param {ImageCanvas} canvas
 */
function finish(state, canvas) {
  state.unit = null;
  state.player?.close();
  state.audio?.close();
  $("decide").hidden = true;
  $("appeal").hidden = true;
  $("overlaps-box").hidden = true;
  $("gold-box").hidden = true;
  $("empty").hidden = false;
  canvas.shapes = [];
  canvas.image = null;
  canvas.render();
}
