// @ts-check
// The annotator's workspace: next task, draw and edit, submit or skip, with the day's figures.
// A model's pre-labels open as proposals to accept, edit or drop, and the assist mode turns a
// box or a click into an outline (assist.js); every shape keeps how it was made (`source`).
import { ImageCanvas, byModel, colorOf } from "/ui/common/canvas.js";
import { ApiError, api, byId as $, clear, downloadMyData, el, formatSeconds, messageOf, requireLogin, setupTheme, showWho, signOut, toast } from "/ui/common/common.js";
import { AssistMode } from "./assist.js";
import { AudioWorkspace } from "./audio.js";
import { PreviousShapes } from "./previous.js";
import { describeSource, reclass, showProposals, status } from "./proposals.js";
import { Training } from "./training.js";
import { VideoWorkspace } from "./video.js";

/** @typedef {import("/ui/common/canvas.js").Annotation} Annotation */
/** @typedef {import("/ui/common/canvas.js").OntologyClass} OntologyClass */
/** @typedef {import("/ui/common/canvas.js").ShapeError} ShapeError */
/** @typedef {import("/ui/common/canvas.js").ShapeSource} ShapeSource */
/** @typedef {import("/ui/common/common.js").Claims} Claims */
/** @typedef {import("/ui/common/common.js").Scores} Scores */
/**
 * A leased task, as dispatch gives it (POST /v1/tasks/next).
 * @typedef {object} Task
 * @property {string} id
 * @property {string} item_id
 * @property {string} project_id
 * @property {string | null} [batch_id]
 * @property {string} lease_id
 * @property {string} lease_expires_at
 * @property {number} ontology_version
 * @property {OntologyClass[]} classes
 * @property {string} instructions
 * @property {{ url: string, width: number, height: number }} image
 * @property {number} rework
 * @property {{ reason: string, comment: string, at: string, track_id?: string | null, frames?: [number, number] | null, segment_id?: string | null }[]} comments
 *   the reviewers' words (on a video clip, maybe about one track and some frames; on an audio
 *   part, maybe about one segment)
 * @property {number} piece_rate
 * @property {number | null} [estimated_seconds]
 * @property {Annotation | null} [pre_annotation] the client's predictions, to start from; the
 *   shapes whose source is a model open as proposals
 * @property {Annotation | null} [previous_annotation] this annotator's, when it comes back
 * @property {import("./video.js").VideoView | null} [video] a video task's clip and frames
 * @property {{ tracks: import("/ui/common/tracks.js").Track[] } | null} [previous_tracks]
 * @property {"production" | "training" | "exam"} [stage] a training or exam task (training.js)
 * @property {[number, number] | null} [progress] of a training or exam task: done and due
 * @property {import("/ui/common/segments.js").AudioView | null} [audio] an audio task's part of a recording
 * @property {import("/ui/common/segments.js").Transcript | null} [pre_transcript] the segments proposed, to start from
 * @property {import("/ui/common/segments.js").Transcript | null} [previous_transcript] this annotator's, when it comes back
 */
/** A heartbeat's answer: the lease, and fresh media URLs. @typedef {{ lease_id: string, image_url?: string | null, audio_url?: string | null }} Lease */
/** @typedef {{ worked_s: number, limit_s: number }} WorkToday */
/** @typedef {{ completed: number, earnings: number }} Statement */
/**
 * @typedef {object} State
 * @property {Task | null} task the task open, if any
 * @property {number} openedAt
 * @property {number} workingSince the current stretch of continuous work
 * @property {number | null} heartbeat
 * @property {VideoWorkspace | null} video the video mode, for video tasks
 * @property {AudioWorkspace | null} audio the audio mode, for audio tasks
 * @property {AssistMode | null} assist the assist mode, for image tasks
 * @property {boolean} warnedDrop the person was told undecided proposals are dropped at submit
 * @property {Map<number, ShapeSource>} imageSources a model's whole-image classes, ticked at the start
 * @property {PreviousShapes} previous the shapes of the person's last picture, to copy
 * @property {Training | null} training the training mode (onboarding)
 */

const BREAK_KEY = "aviary.breakMinutes";

const me = requireLogin($("app"), ["annotator"], "Aviary labeling: sign in");
if (me) start(me);

/** @param {Claims} me */
function start(me) {
  setupTheme($("theme"));
  $("signout").addEventListener("click", signOut);
  $("mydata").addEventListener("click", () => downloadMyData().catch((e) => toast(e.message, "error")));
  showWho($("who"), me);
  /** @type {State} */
  const state = {
    task: null,
    openedAt: 0,
    workingSince: Date.now(), // the current stretch of continuous work
    heartbeat: null,
    video: null,
    audio: null,
    assist: null,
    warnedDrop: false,
    imageSources: new Map(),
    previous: new PreviousShapes(me.sub),
    training: null,
  };
  const canvas = new ImageCanvas($("canvas", HTMLCanvasElement), {
    editable: true,
    onSelect: (index) => {
      showAttributes(canvas, index);
      showProposals(canvas);
    },
    onChange: (shapes) => {
      if (state.task?.video) state.video?.changed(shapes);
      state.warnedDrop = false;
      showAttributes(canvas, canvas.selected);
      showProposals(canvas);
    },
  });
  const video = new VideoWorkspace(canvas);
  state.video = video;
  state.audio = new AudioWorkspace($("audio-workspace"));
  const assist = new AssistMode(canvas, {
    itemId: () => state.task?.item_id ?? null,
    status,
    toggled: (on) => $("assist").setAttribute("aria-pressed", String(on)),
  });
  state.assist = assist;
  state.training = new Training({
    open: (task) => open(state, canvas, task),
    idle: (message) => {
      stopHeartbeat(state);
      state.task = null;
      showEmpty(message);
    },
  });
  Object.assign(window, { aviaryCanvas: canvas, aviaryVideo: video, aviaryAudio: state.audio, aviaryAssist: assist }); // for browser tests and the console

  $("assist").addEventListener("click", () => toggleAssist(state));
  $("accept-proposal").addEventListener("click", () => canvas.decide(true));
  $("drop-proposal").addEventListener("click", () => canvas.decide(false));
  $("accept-all").addEventListener("click", () => canvas.acceptAll());

  $("next").addEventListener("click", () => next(state, canvas));
  $("submit").addEventListener("click", () => submit(state, canvas));
  $("skip").addEventListener("click", () => $("skip-dialog", HTMLDialogElement).showModal());
  $("copy-previous").addEventListener("click", () => copyPrevious(state, canvas));
  $("skip-form").addEventListener("submit", (event) => {
    if (event.submitter instanceof HTMLButtonElement && event.submitter.value === "skip") skip(state, canvas);
  });
  const breakMinutes = $("break-minutes", HTMLInputElement);
  breakMinutes.value = localStorage.getItem(BREAK_KEY) || "50";
  breakMinutes.addEventListener("change", () => localStorage.setItem(BREAK_KEY, breakMinutes.value));
  $("break-ok").addEventListener("click", () => {
    state.workingSince = Date.now();
    $("break").classList.remove("shown");
  });
  window.addEventListener("keydown", (e) => keys(e, state, canvas));
  setInterval(() => tick(state), 1000);
  refreshWork();
  refreshStatement(me);
  state.training.refresh();
}

// ----- tasks ---------------------------------------------------------------------------------

/**
 * @param {State} state
 * @param {ImageCanvas} canvas
 */
async function next(state, canvas) {
  stopHeartbeat(state);
  state.task = null;
  if (state.training) state.training.project = null; // production work: training mode ends
  state.audio?.close(); // nothing plays while the next task is looked for
  $("task-box").hidden = true;
  $("empty").hidden = false;
  $("next", HTMLButtonElement).disabled = true;
  $("next").textContent = "Looking for work…";
  try {
    const task = /** @type {Task | null} */ (await api("dispatch", "POST", "/v1/tasks/next", undefined, { wait_s: 20 }));
    if (task === null) {
      showEmpty("No work right now. Try again in a moment.");
      return;
    }
    await open(state, canvas, task);
  } catch (error) {
    showEmpty(error instanceof ApiError && error.code === "daily_limit_reached" ? "You reached today's work limit. See you tomorrow!" : messageOf(error));
  } finally {
    $("next", HTMLButtonElement).disabled = false;
  }
}

/** @param {string} message */
function showEmpty(message) {
  $("empty").hidden = false;
  $("next").textContent = "Next task";
  $("task-box").hidden = true;
  if (message) toast(message);
}

/**
 * @param {State} state
 * @param {ImageCanvas} canvas
 * @param {Task} task
 */
async function open(state, canvas, task) {
  state.task = task;
  state.openedAt = Date.now();
  const rework = Boolean(task.previous_annotation && task.rework > 0);
  const start = rework ? task.previous_annotation : task.pre_annotation;
  const drawn = (start?.shapes || []).filter((s) => s.kind !== "classification");
  // A model's pre-labels are proposals, to decide on; a client's own shapes (no model source),
  // and rework's shapes, are the annotation to start from.
  const proposing = !rework && !task.video && !task.audio;
  const shapes = proposing ? drawn.filter((s) => !byModel(s)) : drawn;
  const proposals = proposing ? drawn.filter(byModel) : [];
  const wholeImage = (start?.shapes || []).filter((s) => s.kind === "classification");
  const imageLevel = new Set(wholeImage.map((s) => s.class_id));
  state.imageSources = new Map(wholeImage.flatMap((s) => (s.source ? [[s.class_id, s.source]] : [])));
  state.warnedDrop = false;
  if (task.video || task.audio) state.assist?.toggle(false);
  else if (state.assist?.on) state.assist.toggle(true); // on, for the new image
  canvas.setClasses(task.classes);
  const video = state.video;
  // An audio task: the waveform tool instead of the image and the shape tools (its `image`,
  // the waveform picture, is not shown).
  const audio = task.audio ? state.audio : null;
  $("video-keys").hidden = !task.video;
  $("audio-keys").hidden = !audio;
  $("image-tools").hidden = Boolean(audio);
  $("canvas").hidden = Boolean(audio);
  $("instructions-title").textContent = audio ? "Transcription guidelines" : "Instructions";
  if (task.audio && audio) {
    video?.close();
    await audio.open({ ...task, audio: task.audio });
  } else if (task.video && video) {
    state.audio?.close();
    await video.open({ ...task, video: task.video });
  } else {
    state.audio?.close();
    video?.close();
    await canvas.load(task.image.url, task.image.width, task.image.height, shapes, proposals);
  }
  $("empty").hidden = true;
  $("task-box").hidden = false;
  $("copy-previous").hidden = !state.previous.available(task);
  // A training or exam task is a chosen item with a known answer: nothing to skip.
  $("skip").hidden = task.stage === "training" || task.stage === "exam";
  $("submit-error").textContent = "";
  const stage = task.stage && task.stage !== "production" && task.progress ? `${task.stage} ${task.progress[0] + 1} of ${task.progress[1]} · ` : "";
  $("task-meta").textContent =
    stage +
    (task.audio
      ? `part ${task.audio.part + 1} of ${task.audio.parts} · ${formatSeconds(task.audio.end - task.audio.start)} of audio`
      : `${task.image.width}×${task.image.height}`) +
    ` · ${task.piece_rate.toFixed(2)} per task` +
    (task.estimated_seconds ? ` · usually ${formatSeconds(task.estimated_seconds)}` : "") +
    (task.rework ? ` · rework #${task.rework}` : "");
  clear($("instructions"), task.instructions ? task.instructions : el("span", { class: "muted" }, "None."));
  showComments(task.comments, (id) => state.audio?.describe(id) ?? id);
  if (!state.assist?.on) status("");
  showClasses(task, canvas, imageLevel);
  showProposals(canvas);
  if (proposals.length) status(`${proposals.length} proposals from a model: Tab goes through them (least confident first), Enter accepts, Del drops, Shift+Enter accepts all.`);
  state.heartbeat = setInterval(() => heartbeat(state), heartbeatEvery(task));
}

/** @param {Task} task */
function heartbeatEvery(task) {
  const left = new Date(task.lease_expires_at).getTime() - Date.now();
  return Math.max(5000, Math.min(60000, left / 3));
}

/** @param {State} state */
async function heartbeat(state) {
  const task = state.task;
  if (!task) return;
  try {
    const lease = /** @type {Lease | null} */ (await api("dispatch", "POST", `/v1/tasks/${task.id}/heartbeat`, { lease_id: task.lease_id }));
    // A lease that had expired and that nobody took is taken again under a new id.
    if (lease && lease.lease_id) task.lease_id = lease.lease_id;
    // The media URLs live as long as the lease: a recording still to be streamed takes the new one.
    if (lease?.audio_url && task.audio) state.audio?.playback.renew(lease.audio_url);
  } catch (error) {
    if (error instanceof ApiError && error.status === 409) {
      stopHeartbeat(state);
      $("submit-error").textContent = "This task's lease expired and it went to someone else.";
    }
  }
}

/** @param {State} state */
function stopHeartbeat(state) {
  clearInterval(state.heartbeat ?? undefined);
  state.heartbeat = null;
}

/**
 * @param {ImageCanvas} canvas
 * @param {Map<number, ShapeSource>} sources a model's whole-image classes (kept when still ticked)
 * @returns {Annotation} the shapes drawn and accepted, and the whole-image classes ticked (the
 *   proposals not decided on are left out)
 */
function annotation(canvas, sources) {
  const ticked = /** @type {NodeListOf<HTMLInputElement>} */ (document.querySelectorAll("#image-classes input:checked"));
  const imageLevel = [...ticked].map((box) => ({
    kind: /** @type {const} */ ("classification"),
    class_id: Number(box.value),
    attributes: {},
    ...(sources.has(Number(box.value)) ? { source: sources.get(Number(box.value)) } : {}),
  }));
  return { shapes: [...canvas.shapes, ...imageLevel] };
}

/**
 * @param {State} state
 * @param {ImageCanvas} canvas
 */
async function submit(state, canvas) {
  const task = state.task;
  if (!task) return;
  canvas.finishDraft();
  // Proposals left undecided are dropped: said once under the button, and a second submit
  // goes ahead (no dialog to answer; Shift+Enter accepts them all instead).
  const undecided = task.audio || task.video ? 0 : canvas.proposals.length;
  if (undecided && !state.warnedDrop) {
    state.warnedDrop = true;
    $("submit-error").textContent =
      `${undecided === 1 ? "1 proposal is" : `${undecided} proposals are`} not decided yet and will be dropped: ` +
      "submit again (Ctrl+Enter) to drop them, or accept them (Enter, Shift+Enter for all).";
    return;
  }
  const audio = task.audio ? state.audio : null;
  if (audio) {
    // What the server would refuse anyway is named on the segments, before sending.
    const found = audio.problems();
    audio.showProblems(found);
    if (found.length) {
      $("submit-error").textContent = found.map((p) => p.message).join("; ");
      return;
    }
  }
  $("submit", HTMLButtonElement).disabled = true;
  const work = audio
    ? { transcript: audio.submission() }
    : task.video && state.video
      ? { tracks: state.video.submission() }
      : { annotation: annotation(canvas, state.imageSources) };
  try {
    const result = /** @type {{ submission_id: string }} */ (
      await api("dispatch", "POST", `/v1/tasks/${task.id}/submit`, {
        lease_id: task.lease_id,
        ...work,
        ontology_version: task.ontology_version,
      })
    );
    toast("Submitted. Thank you!", "ok");
    const shapes = "annotation" in work && work.annotation ? work.annotation.shapes : null;
    const onboarding = task.stage === "training" || task.stage === "exam";
    if (shapes && !onboarding) state.previous.remember(task, shapes);
    state.task = null;
    refreshWork();
    if (onboarding) {
      stopHeartbeat(state);
      await state.training?.submitted(task, result.submission_id, shapes);
    } else await next(state, canvas);
  } catch (error) {
    $("submit-error").textContent = messageOf(error);
    if (error instanceof ApiError && error.code === "invalid_tracks") {
      const details = /** @type {{ track: string, frame: number, message: string }[] | null} */ (error.details);
      const list = (details || []).map((d) => `${d.track} at frame ${d.frame + 1}: ${d.message}`);
      $("submit-error").textContent = `${error.message}: ${list.join("; ")}`;
    }
    if (error instanceof ApiError && error.code === "invalid_transcript" && audio) {
      const details = /** @type {{ segment: string, code: string, message: string }[] | null} */ (error.details) || [];
      audio.showProblems(details.map((d) => ({ segment_id: d.segment, message: d.message })));
      $("submit-error").textContent = `${error.message}: ${details.map((d) => `${audio.describe(d.segment)}: ${d.message}`).join("; ")}`;
    }
    if (error instanceof ApiError && error.code === "invalid_request" && audio) {
      // The contract's own checks (one speaker's segments overlapping, text on noise) come back
      // as schema errors: their messages say what is wrong.
      const details = /** @type {{ msg?: string }[] | null} */ (error.details) || [];
      const messages = details.map((d) => d.msg).filter(Boolean);
      $("submit-error").textContent = messages.length ? `${error.message}: ${messages.join("; ")}` : error.message;
    }
    if (audio) toast($("submit-error").textContent || messageOf(error), "error");
    if (error instanceof ApiError && error.code === "invalid_annotation") {
      const details = /** @type {ShapeError[] | null} */ (error.details);
      canvas.showErrors(details);
      const list = (details || []).map((d) => `shape ${d.shape + 1}: ${d.message}`);
      $("submit-error").textContent = `${error.message}: ${list.join("; ")}`;
    }
  } finally {
    $("submit", HTMLButtonElement).disabled = false;
  }
}

/**
 * The shapes of the person's previous picture of this batch, put on this one to adjust.
 * @param {State} state
 * @param {ImageCanvas} canvas
 */
function copyPrevious(state, canvas) {
  const task = state.task;
  if (!task || task.video || task.audio) return;
  const { copied, whole, refusal } = state.previous.copy(task, canvas);
  if (refusal) return toast(`Nothing copied: ${refusal}.`, "error");
  for (const box of /** @type {NodeListOf<HTMLInputElement>} */ (document.querySelectorAll("#image-classes input"))) {
    if (whole.includes(Number(box.value))) box.checked = true;
  }
  status(`${copied} shapes copied from the previous picture${whole.length ? `, ${whole.length} whole-image classes ticked` : ""}: Ctrl+Z takes them back.`);
}

/**
 * @param {State} state
 * @param {ImageCanvas} canvas
 */
async function skip(state, canvas) {
  const task = state.task;
  if (!task) return;
  try {
    await api("dispatch", "POST", `/v1/tasks/${task.id}/skip`, {
      lease_id: task.lease_id,
      reason: $("skip-reason", HTMLSelectElement).value,
      comment: $("skip-comment", HTMLTextAreaElement).value,
    });
    $("skip-comment", HTMLTextAreaElement).value = "";
    state.task = null;
    await next(state, canvas);
  } catch (error) {
    toast(messageOf(error), "error");
  }
}

// ----- panels --------------------------------------------------------------------------------

/**
 * @param {Task["comments"]} comments
 * @param {(segmentId: string) => string} segmentTimes an audio part's segment, as its times
 */
function showComments(comments, segmentTimes) {
  $("comments-box").hidden = !comments.length;
  clear(
    $("comments"),
    comments.map((c) =>
      el(
        "div",
        { class: "comment" },
        el("b", {}, c.reason),
        c.track_id || c.frames
          ? el("div", { class: "muted" }, [c.track_id ? `track ${c.track_id}` : "", c.frames ? `frames ${c.frames[0] + 1}–${c.frames[1] + 1}` : ""].filter(Boolean).join(", "))
          : null,
        c.segment_id ? el("div", { class: "muted" }, `segment ${segmentTimes(c.segment_id)}`) : null,
        el("div", {}, c.comment),
        el("div", { class: "muted" }, new Date(c.at).toLocaleString()),
      ),
    ),
  );
}

/**
 * @param {Task} task
 * @param {ImageCanvas} canvas
 * @param {Set<number>} imageLevel the whole-image classes to tick
 */
function showClasses(task, canvas, imageLevel) {
  const drawable = task.classes.filter((c) => c.kind !== "classification");
  const buttons = drawable.map((cls, i) =>
    el(
      "button",
      { type: "button", dataset: { classId: cls.id }, onclick: () => choose(canvas, cls) },
      el("span", { class: "swatch", style: { background: colorOf(cls.id) } }),
      `${cls.name}`,
      el("kbd", {}, i < 9 ? String(i + 1) : ""),
    ),
  );
  clear($("classes"), buttons);
  const image = task.classes.filter((c) => c.kind === "classification");
  clear(
    $("image-classes"),
    image.length ? el("h3", {}, "Whole image") : null,
    image.map((cls) =>
      el("label", { class: "field" }, el("span", {}, el("input", { type: "checkbox", value: cls.id, checked: imageLevel.has(cls.id) }), ` ${cls.name}`)),
    ),
  );
  choose(canvas, drawable[0] || null);
}

/**
 * @param {ImageCanvas} canvas
 * @param {OntologyClass | null} cls null: select mode
 */
function choose(canvas, cls) {
  canvas.cancelDraft();
  canvas.currentClass = cls;
  if (cls?.kind === "mask" && canvas.tool === null) status("Masks are made with assist: press A, then drag a box around the object.");
  for (const button of /** @type {NodeListOf<HTMLButtonElement>} */ (document.querySelectorAll("#classes button"))) {
    button.classList.toggle("active", cls !== null && Number(button.dataset.classId) === cls.id);
  }
}

/**
 * @param {ImageCanvas} canvas
 * @param {number} index the selected shape's, or -1
 */
function showAttributes(canvas, index) {
  const shape = canvas.shapes[index];
  $("attributes-box").hidden = !shape;
  if (!shape) return;
  const cls = canvas.classes.get(shape.class_id);
  const fields = (cls?.attributes || []).map((spec) => {
    const value = shape.attributes?.[spec.name];
    const id = `attr-${spec.name}`;
    let input;
    if (spec.type === "boolean") {
      const box = el("input", { id, type: "checkbox", checked: value === true });
      box.addEventListener("change", () => canvas.setAttribute(index, spec.name, box.checked));
      input = box;
    } else if (spec.type === "enum") {
      const select = el("select", { id }, el("option", { value: "" }, "–"), spec.options.map((o) => el("option", { value: o, selected: o === value }, o)));
      select.addEventListener("change", () => canvas.setAttribute(index, spec.name, select.value));
      input = select;
    } else {
      const text = el("input", { id, value: value ?? "" });
      text.addEventListener("change", () => canvas.setAttribute(index, spec.name, text.value));
      input = text;
    }
    return el("div", { class: "field" }, el("label", { for: id }, spec.name + (spec.required ? " *" : "")), input);
  });
  // Another class of the same kind (Shift+1–9 too): a model's shape becomes one edited by hand.
  const kin = [...canvas.classes.values()].filter((c) => c.kind === shape.kind);
  const classSelect = el("select", { id: "shape-class" }, kin.map((c) => el("option", { value: c.id, selected: c.id === shape.class_id }, c.name)));
  classSelect.addEventListener("change", () => canvas.setClass(index, Number(classSelect.value)));
  clear(
    $("attributes"),
    el("div", { class: "muted" }, `${cls?.name || shape.class_id} · ${shape.kind}${shape.kind === "bbox" && shape.rotation ? ` · turned ${shape.rotation}° ([ / ])` : ""}${shape.kind === "polyline" ? (shape.smooth ? " · curve (C: straighten)" : " · C: curve") : ""}`),
    shape.source && shape.source.by !== "human" ? el("div", { class: "muted", id: "shape-source" }, describeSource(shape.source)) : null,
    kin.length > 1 ? el("div", { class: "field" }, el("label", { for: "shape-class" }, "class"), classSelect) : null,
    fields,
    el("div", { class: "actions" }, el("button", { class: "danger", type: "button", onclick: () => canvas.removeSelected() }, "Delete")),
  );
}

/** @param {State} state */
function toggleAssist(state) {
  if (!state.assist) return;
  if (state.task?.video || state.task?.audio) {
    status("Assist works on image tasks.", true);
    return;
  }
  state.assist.toggle();
}

async function refreshWork() {
  try {
    const work = /** @type {WorkToday} */ (await api("dispatch", "GET", "/v1/me/work"));
    $("worked").textContent = formatSeconds(work.worked_s);
    $("limit").textContent = formatSeconds(work.limit_s);
  } catch {
    /* the figures are a courtesy; labeling goes on without them */
  }
}

/** @param {Claims} me */
async function refreshStatement(me) {
  try {
    const sheet = /** @type {Statement} */ (await api("review", "GET", `/v1/vendors/${me.vendor}/annotators/${me.sub}/statement`));
    const scores = /** @type {Scores} */ (await api("review", "GET", "/v1/scores", undefined, { group_by: "annotator" }));
    const mine = scores.rows.find((r) => r.key === me.sub);
    clear(
      $("statement"),
      el("div", {}, `${sheet.completed} tasks completed, earnings ${sheet.earnings.toFixed(2)}`),
      mine ? el("div", {}, `accepted ${Math.round((mine.acceptance_rate ?? 0) * 100)} % · rework ${mine.rework}`) : null,
    );
  } catch {
    $("statement").textContent = "Not available right now.";
  }
}

/** @param {State} state */
function tick(state) {
  $("timer").textContent = state.task ? formatSeconds((Date.now() - state.openedAt) / 1000) : "–";
  const minutes = Number(localStorage.getItem(BREAK_KEY) || 50);
  const stretch = (Date.now() - state.workingSince) / 1000;
  if (stretch > minutes * 60) {
    $("stretch").textContent = formatSeconds(stretch);
    $("break").classList.add("shown");
  }
}

/**
 * @param {KeyboardEvent} e
 * @param {State} state
 * @param {ImageCanvas} canvas
 */
function keys(e, state, canvas) {
  if (state.task?.audio && state.audio) {
    // The audio mode's keys, in its text boxes too (Escape leaves them; Ctrl+Enter submits).
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
      e.preventDefault();
      return submit(state, canvas);
    }
    if (state.audio.key(e)) e.preventDefault();
    return;
  }
  if (e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement || e.target instanceof HTMLSelectElement) return;
  if (e.target instanceof Element && e.target.closest("dialog")) return; // the skip dialog's own keys
  const ctrl = e.ctrlKey || e.metaKey;
  if (ctrl && e.key === "Enter") return submit(state, canvas);
  if (state.task?.video && state.video && !ctrl && videoKey(e, state.video)) return e.preventDefault();
  if (ctrl && e.key.toLowerCase() === "z") return e.shiftKey ? canvas.redo() : canvas.undo();
  if (ctrl && e.key.toLowerCase() === "y") return canvas.redo();
  if (ctrl || e.altKey) return;
  if (e.key === "Enter") {
    e.preventDefault(); // not also a click of the focused button
    if (canvas.draft) return canvas.finishDraft();
    return e.shiftKey ? canvas.acceptAll() : canvas.decide(true);
  }
  if (e.key === "Tab" && canvas.proposals.length) {
    e.preventDefault(); // the proposals, not the page's buttons
    return canvas.cycleProposal(e.shiftKey ? -1 : 1);
  }
  if (e.key === "Escape" && state.assist?.cancel()) return; // the assist mode's object, dropped
  if (e.key === "Escape" || e.key.toLowerCase() === "v") {
    canvas.cancelDraft();
    if (state.assist?.on) state.assist.toggle(false);
    return choose(canvas, null);
  }
  if (e.key === "Delete" || e.key === "Backspace") return canvas.selectedProposal >= 0 ? canvas.decide(false) : canvas.removeSelected();
  if (e.key.toLowerCase() === "a") return toggleAssist(state);
  // A box turns 5° a press (1° with Shift), clockwise with ], back with [; C curves a line.
  if (e.code === "BracketRight" || e.code === "BracketLeft") {
    const step = (e.shiftKey ? 1 : 5) * (e.code === "BracketRight" ? 1 : -1);
    if (!state.task?.video && canvas.rotateSelected(step)) e.preventDefault();
    return;
  }
  if (e.key.toLowerCase() === "c" && !state.task?.video) return void canvas.toggleSmooth();
  if (e.key.toLowerCase() === "p" && !state.task?.video) return copyPrevious(state, canvas);
  if (e.key.toLowerCase() === "f") return canvas.fit();
  if (e.shiftKey && /^Digit[1-9]$/.test(e.code) && state.task && !state.task.video) return reclass(canvas, state.task.classes, Number(e.code.slice(5)));
  if (/^[1-9]$/.test(e.key) && state.task) {
    const drawable = state.task.classes.filter((c) => c.kind !== "classification");
    const cls = drawable[Number(e.key) - 1];
    if (cls) choose(canvas, cls);
  }
}

/**
 * A video task's keys: frames, keyframes, playback, tracker help, leaving, occlusion.
 * @param {KeyboardEvent} e
 * @param {VideoWorkspace} video
 * @returns {boolean} whether the key was one of them
 */
function videoKey(e, video) {
  const key = e.key.toLowerCase();
  if (e.key === "ArrowRight") e.shiftKey ? video.jump(1) : video.step(1);
  else if (e.key === "ArrowLeft") e.shiftKey ? video.jump(-1) : video.step(-1);
  else if (key === "p") video.togglePlay();
  else if (key === "t") video.trackForward();
  else if (key === "o") video.leaveSelected();
  else if (key === "c") video.toggleOccluded();
  else return false;
  return true;
}
