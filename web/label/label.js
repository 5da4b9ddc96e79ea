// The annotator's workspace: next task, draw and edit, submit or skip, with the day's figures.
import { ImageCanvas, colorOf } from "/ui/common/canvas.js";
import { api, clear, el, formatSeconds, requireLogin, setupTheme, signOut, toast } from "/ui/common/common.js";

const $ = (id) => document.getElementById(id);
const BREAK_KEY = "aviary.breakMinutes";

const me = requireLogin($("app"), ["annotator"], "Aviary labeling: sign in");
if (me) start();

function start() {
  setupTheme($("theme"));
  $("signout").addEventListener("click", signOut);
  $("who").textContent = `${me.sub} · ${me.vendor}`;
  const state = {
    task: null,
    openedAt: 0,
    workingSince: Date.now(), // the current stretch of continuous work
    heartbeat: null,
  };
  const canvas = new ImageCanvas($("canvas"), {
    editable: true,
    onSelect: (index) => showAttributes(canvas, index),
    onChange: () => showAttributes(canvas, canvas.selected),
  });
  window.aviaryCanvas = canvas; // for browser tests and the console

  $("next").addEventListener("click", () => next(state, canvas));
  $("submit").addEventListener("click", () => submit(state, canvas));
  $("skip").addEventListener("click", () => $("skip-dialog").showModal());
  $("skip-form").addEventListener("submit", (event) => {
    if (event.submitter?.value === "skip") skip(state, canvas);
  });
  $("break-minutes").value = localStorage.getItem(BREAK_KEY) || "50";
  $("break-minutes").addEventListener("change", (e) => localStorage.setItem(BREAK_KEY, e.target.value));
  $("break-ok").addEventListener("click", () => {
    state.workingSince = Date.now();
    $("break").classList.remove("shown");
  });
  window.addEventListener("keydown", (e) => keys(e, state, canvas));
  setInterval(() => tick(state), 1000);
  refreshWork();
  refreshStatement();
}

// ----- tasks ---------------------------------------------------------------------------------

async function next(state, canvas) {
  stopHeartbeat(state);
  state.task = null;
  $("task-box").hidden = true;
  $("empty").hidden = false;
  $("next").disabled = true;
  $("next").textContent = "Looking for work…";
  try {
    const task = await api("dispatch", "POST", "/v1/tasks/next", undefined, { wait_s: 20 });
    if (task === null) {
      showEmpty("No work right now. Try again in a moment.");
      return;
    }
    await open(state, canvas, task);
  } catch (error) {
    showEmpty(error.code === "daily_limit_reached" ? "You reached today's work limit. See you tomorrow!" : error.message);
  } finally {
    $("next").disabled = false;
  }
}

function showEmpty(message) {
  $("empty").hidden = false;
  $("next").textContent = "Next task";
  $("task-box").hidden = true;
  if (message) toast(message);
}

async function open(state, canvas, task) {
  state.task = task;
  state.openedAt = Date.now();
  const start = task.previous_annotation && task.rework > 0 ? task.previous_annotation : task.pre_annotation;
  const shapes = (start?.shapes || []).filter((s) => s.kind !== "classification");
  const imageLevel = new Set((start?.shapes || []).filter((s) => s.kind === "classification").map((s) => s.class_id));
  canvas.setClasses(task.classes);
  await canvas.load(task.image.url, task.image.width, task.image.height, shapes);
  $("empty").hidden = true;
  $("task-box").hidden = false;
  $("submit-error").textContent = "";
  $("task-meta").textContent =
    `${task.image.width}×${task.image.height} · ${task.piece_rate.toFixed(2)} per task` +
    (task.estimated_seconds ? ` · usually ${formatSeconds(task.estimated_seconds)}` : "") +
    (task.rework ? ` · rework #${task.rework}` : "");
  clear($("instructions"), task.instructions ? task.instructions : el("span", { class: "muted" }, "None."));
  showComments(task.comments);
  showClasses(task, canvas, imageLevel);
  state.heartbeat = setInterval(() => heartbeat(state), heartbeatEvery(task));
}

function heartbeatEvery(task) {
  const left = new Date(task.lease_expires_at).getTime() - Date.now();
  return Math.max(5000, Math.min(60000, left / 3));
}

async function heartbeat(state) {
  const task = state.task;
  if (!task) return;
  try {
    const lease = await api("dispatch", "POST", `/v1/tasks/${task.id}/heartbeat`, { lease_id: task.lease_id });
    // A lease that had expired and that nobody took is taken again under a new id.
    if (lease && lease.lease_id) task.lease_id = lease.lease_id;
  } catch (error) {
    if (error.status === 409) {
      stopHeartbeat(state);
      $("submit-error").textContent = "This task's lease expired and it went to someone else.";
    }
  }
}

function stopHeartbeat(state) {
  clearInterval(state.heartbeat);
  state.heartbeat = null;
}

function annotation(canvas) {
  const imageLevel = [...document.querySelectorAll("#image-classes input:checked")].map((box) => ({
    kind: "classification",
    class_id: Number(box.value),
    attributes: {},
  }));
  return { shapes: [...canvas.shapes, ...imageLevel] };
}

async function submit(state, canvas) {
  const task = state.task;
  if (!task) return;
  canvas.finishDraft();
  $("submit").disabled = true;
  try {
    await api("dispatch", "POST", `/v1/tasks/${task.id}/submit`, {
      lease_id: task.lease_id,
      annotation: annotation(canvas),
      ontology_version: task.ontology_version,
    });
    toast("Submitted. Thank you!", "ok");
    state.task = null;
    refreshWork();
    await next(state, canvas);
  } catch (error) {
    $("submit-error").textContent = error.message;
    if (error.code === "invalid_annotation") {
      canvas.showErrors(error.details);
      const list = (error.details || []).map((d) => `shape ${d.shape + 1}: ${d.message}`);
      $("submit-error").textContent = `${error.message}: ${list.join("; ")}`;
    }
  } finally {
    $("submit").disabled = false;
  }
}

async function skip(state, canvas) {
  const task = state.task;
  if (!task) return;
  try {
    await api("dispatch", "POST", `/v1/tasks/${task.id}/skip`, {
      lease_id: task.lease_id,
      reason: $("skip-reason").value,
      comment: $("skip-comment").value,
    });
    $("skip-comment").value = "";
    state.task = null;
    await next(state, canvas);
  } catch (error) {
    toast(error.message, "error");
  }
}

// ----- panels --------------------------------------------------------------------------------

function showComments(comments) {
  $("comments-box").hidden = !comments.length;
  clear(
    $("comments"),
    comments.map((c) =>
      el("div", { class: "comment" }, el("b", {}, c.reason), el("div", {}, c.comment), el("div", { class: "muted" }, new Date(c.at).toLocaleString())),
    ),
  );
}

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

function choose(canvas, cls) {
  canvas.cancelDraft();
  canvas.currentClass = cls;
  for (const button of document.querySelectorAll("#classes button")) {
    button.classList.toggle("active", cls !== null && Number(button.dataset.classId) === cls.id);
  }
}

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
      input = el("input", { id, type: "checkbox", checked: value === true });
      input.addEventListener("change", () => canvas.setAttribute(index, spec.name, input.checked));
    } else if (spec.type === "enum") {
      input = el("select", { id }, el("option", { value: "" }, "–"), spec.options.map((o) => el("option", { value: o, selected: o === value }, o)));
      input.addEventListener("change", () => canvas.setAttribute(index, spec.name, input.value));
    } else {
      input = el("input", { id, value: value ?? "" });
      input.addEventListener("change", () => canvas.setAttribute(index, spec.name, input.value));
    }
    return el("div", { class: "field" }, el("label", { for: id }, spec.name + (spec.required ? " *" : "")), input);
  });
  clear(
    $("attributes"),
    el("div", { class: "muted" }, `${cls?.name || shape.class_id} · ${shape.kind}`),
    fields,
    el("div", { class: "actions" }, el("button", { class: "danger", type: "button", onclick: () => canvas.removeSelected() }, "Delete")),
  );
}

async function refreshWork() {
  try {
    const work = await api("dispatch", "GET", "/v1/me/work");
    $("worked").textContent = formatSeconds(work.worked_s);
    $("limit").textContent = formatSeconds(work.limit_s);
  } catch {
    /* the figures are a courtesy; labeling goes on without them */
  }
}

async function refreshStatement() {
  try {
    const sheet = await api("review", "GET", `/v1/vendors/${me.vendor}/annotators/${me.sub}/statement`);
    const scores = await api("review", "GET", "/v1/scores", undefined, { group_by: "annotator" });
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

function tick(state) {
  $("timer").textContent = state.task ? formatSeconds((Date.now() - state.openedAt) / 1000) : "–";
  const minutes = Number(localStorage.getItem(BREAK_KEY) || 50);
  const stretch = (Date.now() - state.workingSince) / 1000;
  if (stretch > minutes * 60) {
    $("stretch").textContent = formatSeconds(stretch);
    $("break").classList.add("shown");
  }
}

function keys(e, state, canvas) {
  if (e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement || e.target instanceof HTMLSelectElement) return;
  const ctrl = e.ctrlKey || e.metaKey;
  if (ctrl && e.key === "Enter") return submit(state, canvas);
  if (ctrl && e.key.toLowerCase() === "z") return e.shiftKey ? canvas.redo() : canvas.undo();
  if (ctrl && e.key.toLowerCase() === "y") return canvas.redo();
  if (e.key === "Enter") return canvas.finishDraft();
  if (e.key === "Escape" || e.key.toLowerCase() === "v") {
    canvas.cancelDraft();
    return choose(canvas, null);
  }
  if (e.key === "Delete" || e.key === "Backspace") return canvas.removeSelected();
  if (e.key.toLowerCase() === "f") return canvas.fit();
  if (/^[1-9]$/.test(e.key) && state.task) {
    const drawable = state.task.classes.filter((c) => c.kind !== "classification");
    const cls = drawable[Number(e.key) - 1];
    if (cls) choose(canvas, cls);
  }
}
