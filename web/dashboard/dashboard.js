// @ts-check
// One dashboard: a client's projects, batches, deliveries and webhook log; the operator's and
// vendor admins' view of the platform (queues, throughput, tasks, people at work, quality).
import { api, byId as $, clear, el, percent, requireLogin, services, setupTheme, showWho, signOut, toast, token } from "/ui/common/common.js";
import { act } from "./act.js";
import { burnupButton } from "./burnup.js";
import { showPlatformCharts } from "./charts.js";
import { addCsvButtons } from "./csv.js";
import { Deletions } from "./deletions.js";
import { Onboarding } from "./onboarding.js";
import { People } from "./people.js";
import { ProjectForm } from "./projects.js";
import { scorecardProjects, showScorecard } from "./scorecard.js";
import { chooseFairVendor, fairVendor, setWage, showWages } from "./wages.js";
import { Uploader } from "./upload.js";

/** @typedef {import("/ui/common/common.js").Claims} Claims */
/** @typedef {import("/ui/common/common.js").Scores} Scores */
/** @typedef {{ id: string, name: string, version: number }} Project */
/**
 * @typedef {object} Batch
 * @property {string} id
 * @property {string} name
 * @property {"open" | "sealed"} status
 * @property {string} created_at
 * @property {number} item_count
 * @property {{ in_labeling: number, in_review: number, accepted: number, dropped: number, delivered: boolean }} progress
 */
/**
 * A task skipped by too many people, waiting for its client or the operator.
 * @typedef {object} FlaggedTask
 * @property {string} id
 * @property {string} project_name
 * @property {string} item_id
 * @property {string} vendor_id
 * @property {{ annotator_id: string, reason: string, comment: string, at: string }[]} skips
 * @property {{ url: string, width: number, height: number }} image
 * @property {string[]} allowed_vendors
 * @property {Record<string, string>} [vendor_names]
 * @property {string | null} flagged_at
 */
/** Tasks by vendor, then by state. @typedef {{ by_vendor: Record<string, Record<string, number>> }} TaskStats */
/**
 * @typedef {object} Delivery
 * @property {string} id
 * @property {string} batch_id
 * @property {"full" | "partial" | "incremental"} kind
 * @property {"pending" | "ready"} status
 * @property {number | null} [images]
 * @property {string} created_at
 * @property {string | null} [download_url] presigned, short-lived: in a delivery asked for by id
 */
/**
 * @typedef {object} Webhook
 * @property {string} delivery_id
 * @property {string} url
 * @property {"pending" | "delivered" | "failed"} status
 * @property {{ status_code: number | null, error: string | null }[]} attempts
 */
/**
 * One entry of a service's audit log.
 * @typedef {{ at: string, action: string, target: string, actor: { sub: string, org: string, role: string }, details: Record<string, unknown> }} AuditEntry
 */
/** One sample of a service's Prometheus metrics. @typedef {{ name: string, labels: Record<string, string>, value: number }} Sample */

const SERVICES = ["ingest", "dispatch", "review", "export"];
/** @type {ProjectForm | null} a client's: makes projects and edits them into new versions */
let projectForm = null;
/** @type {People | null} organisations (the operator's), people and their tokens */
let people = null;
/** @type {Onboarding | null} who trained and passed in projects that ask for it */
let onboarding = null;
/** @type {Deletions | null} a client's and the operator's: projects and batches deleted, with certificates */
let deletions = null;
const me = requireLogin($("app"), ["client", "operator", "vendor_admin"], "Aviary dashboard: sign in");
/** @type {Map<string, { at: number, handled: number }>} */
const previous = new Map(); // service -> {at, handled}: for events per second
if (me) start(me);

/** @param {Claims} me */
function start(me) {
  setupTheme($("theme"));
  $("signout").addEventListener("click", signOut);
  showWho($("who"), me);
  $("refresh").addEventListener("click", refresh);
  $("client").hidden = !["client", "operator"].includes(me.role);
  $("ops").hidden = !["operator", "vendor_admin"].includes(me.role);
  // The services' counters are the whole platform's: the operator's alone (docs/security.md).
  $("platform").hidden = me.role !== "operator";
  $("limits").hidden = me.role !== "vendor_admin";
  // A vendor's fair-work card: its admin's, and the operator's for any vendor.
  $("fair").hidden = !["vendor_admin", "operator"].includes(me.role);
  if (me.role === "operator") chooseFairVendor(me).catch((error) => toast(error.message, "error"));
  $("people").hidden = false; // clients, vendor admins and the operator: their own tokens
  // Clients compare their vendors; a vendor admin sees its own figures the same way.
  $("vendors-section").hidden = false;
  people = new People(me);
  onboarding = new Onboarding(me);
  $("wage-form").addEventListener("submit", (e) => {
    e.preventDefault();
    setWage(me).catch((error) => toast(error.message, "error"));
  });
  $("limit-form").addEventListener("submit", (e) => {
    e.preventDefault();
    setLimit(me).catch((error) => toast(error.message, "error"));
  });
  if (!$("client").hidden) deletions = new Deletions(() => Promise.allSettled([showProjects(), showDeliveries()]));
  // Clients push their own pictures; the operator's dashboard has no upload.
  $("upload").hidden = me.role !== "client";
  $("new-project").hidden = me.role !== "client";
  if (me.role === "client") {
    new Uploader();
    projectForm = new ProjectForm(showProjects);
  }
  $("gold-form").addEventListener("submit", (e) => {
    e.preventDefault();
    showGold().catch((error) => toast(error.message, "error"));
  });
  // `?range=168` opens on the week (a link to it, the benchmark's load).
  const asked = new URLSearchParams(location.search).get("range");
  if (asked && [...$("range", HTMLSelectElement).options].some((o) => o.value === asked)) $("range", HTMLSelectElement).value = asked;
  $("range").addEventListener("change", () => showPlatformCharts().catch((error) => toast(error.message, "error")));
  $("range-form").addEventListener("submit", (e) => {
    e.preventDefault();
    showPlatformCharts().catch((error) => toast(error.message, "error"));
  });
  $("scorecard-form").addEventListener("submit", (e) => {
    e.preventDefault();
    showScorecard().catch((error) => toast(error.message, "error"));
  });
  $("audit-form").addEventListener("submit", (e) => {
    e.preventDefault();
    showAudit(false).catch((error) => toast(error.message, "error"));
  });
  $("audit-more").addEventListener("click", () => showAudit(true).catch((error) => toast(error.message, "error")));
  addCsvButtons();
  refresh();
  setInterval(refresh, 10000);
  // Events per second need two readings of the counters: a second one soon after the first,
  // rather than "…" until the next refresh.
  if (me.role === "operator") setTimeout(() => showPlatform().catch(() => undefined), 2000);
}

// ----- gold ------------------------------------------------------------------------------------

/**
 * @typedef {{ id: string, item_id: string, clip: number | null, active: boolean, created_by: string,
 *   created_at: string, annotation: { shapes: unknown[] } }} GoldItem
 */

async function showGold() {
  const project = $("gold-project", HTMLSelectElement).value;
  if (!project) return;
  const gold = /** @type {GoldItem[]} */ (await api("review", "GET", `/v1/projects/${project}/gold`));
  clear(
    $("gold", HTMLTableElement).tBodies[0],
    gold.map((g) =>
      el(
        "tr",
        { dataset: { gold: g.id } },
        el("td", { title: g.item_id }, g.clip === null ? g.item_id : `${g.item_id} clip ${g.clip + 1}`),
        el("td", {}, `${g.annotation.shapes.length} shapes`),
        el("td", {}, `${new Date(g.created_at).toLocaleDateString()} by ${g.created_by}`),
        el("td", { class: g.active ? "ok" : "" }, g.active ? "in rotation" : "retired"),
        el("td", {}, g.active ? el("button", { type: "button", class: "danger", onclick: () => retireGold(project, g) }, "Retire") : ""),
      ),
    ),
  );
}

/**
 * @param {string} project
 * @param {GoldItem} gold
 */
async function retireGold(project, gold) {
  await act(() => api("review", "DELETE", `/v1/projects/${project}/gold/${gold.id}`), "Gold item retired", showGold);
}

// ----- work limits (vendor admins) ---------------------------------------------------------------

/**
 * @typedef {{ default_daily_hours: number, intern_daily_hours: number, groups: Record<string, number>,
 *   members: Record<string, string>, annotators: Record<string, number> }} VendorLimits
 */

/** @param {Claims} me */
async function showLimits(me) {
  const limits = /** @type {VendorLimits} */ (await api("dispatch", "GET", `/v1/vendors/${me.vendor || me.org}/work-limits`));
  $("limits-default").textContent = `${limits.default_daily_hours} h; interns ${limits.intern_daily_hours} h`;
  clear(
    $("limit-groups", HTMLTableElement).tBodies[0],
    Object.entries(limits.groups).map(([group, hours]) => el("tr", {}, el("td", {}, group), el("td", {}, String(hours)))),
  );
  const people = [...new Set([...Object.keys(limits.members), ...Object.keys(limits.annotators)])].sort();
  clear(
    $("limit-people", HTMLTableElement).tBodies[0],
    people.map((who) =>
      el("tr", {}, el("td", {}, who), el("td", {}, limits.members[who] ?? "–"), el("td", {}, limits.annotators[who] !== undefined ? String(limits.annotators[who]) : "–")),
    ),
  );
}

/** A person's group and/or own daily hours, as the form says. @param {Claims} me */
async function setLimit(me) {
  const who = $("limit-who", HTMLInputElement).value.trim();
  const group = $("limit-group", HTMLInputElement).value.trim();
  const hours = $("limit-hours", HTMLInputElement).value;
  /** @type {Record<string, string | number>} */
  const body = {};
  if (group) body.group = group;
  if (hours) body.daily_hours = Number(hours);
  await api("dispatch", "PUT", `/v1/vendors/${me.vendor || me.org}/work-limits/annotators/${encodeURIComponent(who)}`, body);
  toast(`Limit set for ${who}`);
  await showLimits(me);
}

// ----- audit log -------------------------------------------------------------------------------

const AUDIT_PAGE = 50;
/** @type {AuditEntry[]} the entries shown, oldest last */
let auditShown = [];

/** @param {boolean} older the next page after the last entry shown, else the newest */
async function showAudit(older) {
  const service = $("audit-service", HTMLSelectElement).value;
  const action = $("audit-action", HTMLInputElement).value.trim() || undefined;
  const before = older && auditShown.length ? auditShown[auditShown.length - 1].at : undefined;
  const page = /** @type {AuditEntry[]} */ (await api(service, "GET", "/v1/audit", undefined, { action, before, limit: AUDIT_PAGE }));
  auditShown = older ? [...auditShown, ...page] : page;
  $("audit-more").hidden = page.length < AUDIT_PAGE;
  clear(
    $("audit-log", HTMLTableElement).tBodies[0],
    auditShown.map((e) =>
      el(
        "tr",
        {},
        el("td", {}, new Date(e.at).toLocaleString()),
        el("td", { title: e.actor.org }, `${e.actor.sub} (${e.actor.role})`),
        el("td", {}, e.action),
        el("td", {}, e.target),
        el("td", { class: "muted" }, JSON.stringify(e.details).slice(0, 200)),
      ),
    ),
  );
}

async function refresh() {
  /** @type {Promise<void>[]} */
  const work = [];
  if (!$("client").hidden) work.push(showProjects().then(showScorecard), showFlagged(), showDeliveries());
  if (deletions) work.push(deletions.show());
  else work.push(showScorecard());
  if (!$("platform").hidden) work.push(showPlatform(), showPlatformCharts());
  if (!$("ops").hidden) work.push(showQuality());
  if (!$("limits").hidden && me) work.push(showLimits(me));
  if (!$("fair").hidden && me && (me.role !== "operator" || fairVendor())) work.push(showWages(me));
  if (!$("people").hidden && people) work.push(people.show());
  if (onboarding) work.push(onboarding.show());
  const results = await Promise.allSettled(work);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) toast(failed.reason.message, "error");
}


// ----- client ----------------------------------------------------------------------------------

/** Batch and project names by id, for the tables that name them (filled by `showProjects`). */
const batchNames = new Map();
/** @type {Map<string, string>} */
const projectNames = new Map();

async function showProjects() {
  const projects = /** @type {Project[]} */ (await api("ingest", "GET", "/v1/projects"));
  const rows = [];
  for (const project of projects) {
    const [batches, stats] = /** @type {[Batch[], TaskStats | null]} */ (
      await Promise.all([
        api("ingest", "GET", `/v1/projects/${project.id}/batches`),
        api("dispatch", "GET", `/v1/projects/${project.id}/task-stats`).catch(() => null),
      ])
    );
    /** @type {Record<string, number>} */
    const tasks = {};
    for (const states of Object.values(stats?.by_vendor || {})) {
      for (const [state, n] of Object.entries(states)) tasks[state] = (tasks[state] || 0) + n;
    }
    const taskText = Object.entries(tasks).map(([s, n]) => `${s} ${n}`).join(", ") || "–";
    // A batch without a name is called by its project and the day it began.
    for (const b of batches) batchNames.set(b.id, b.name || `${project.name}, ${new Date(b.created_at).toLocaleDateString()}`);
    projectNames.set(project.id, project.name);
    for (const [n, batch] of (batches.length ? batches : [null]).entries()) {
      const done = batch && batch.item_count ? batch.progress.accepted / batch.item_count : 0;
      rows.push(
        el(
          "tr",
          {},
          el("td", {}, project.name, el("div", { class: "muted" }, `v${project.version}`), n === 0 ? deletions?.button("project", project.id, project.name) : null),
          el("td", { title: batch?.id }, batch ? [`${batchNames.get(batch.id)} (${batch.status})`, deletions ? el("div", {}, deletions.button("batch", batch.id, batchNames.get(batch.id) ?? batch.id)) : null] : "–"),
          el("td", {}, batch ? String(batch.item_count) : "0"),
          el(
            "td",
            {},
            batch
              ? [
                  el("div", { class: "progress" }, el("div", { style: { width: `${Math.round(done * 100)}%` } })),
                  el("div", { class: "muted" }, progressText(batch.progress)),
                  burnupButton(batch.id, batchNames.get(batch.id) ?? batch.id),
                ]
              : "–",
          ),
          el("td", {}, taskText),
          el("td", {}, n === 0 && projectForm ? el("button", { type: "button", onclick: () => editProject(project.id) }, "Edit") : ""),
        ),
      );
    }
  }
  clear($("projects", HTMLTableElement).tBodies[0], rows);
  scorecardProjects(projectNames);
  for (const id of ["gold-project", "upload-project"]) {
    const choice = $(id, HTMLSelectElement);
    const chosen = choice.value;
    clear(choice, [...projectNames].map(([pid, name]) => el("option", { value: pid, selected: pid === chosen }, name)));
  }
}

/** @param {string} projectId */
function editProject(projectId) {
  projectForm?.edit(projectId).catch((error) => toast(error.message, "error"));
}

/** @param {Batch["progress"]} p */
function progressText(p) {
  const dropped = p.dropped ? ` · ${p.dropped} dropped` : "";
  return `${p.in_labeling} labeling · ${p.in_review} review · ${p.accepted} accepted${dropped}${p.delivered ? " · delivered" : ""}`;
}

// ----- flagged tasks ---------------------------------------------------------------------------

async function showFlagged() {
  const page = /** @type {{ tasks: FlaggedTask[] }} */ (await api("dispatch", "GET", "/v1/flagged-tasks"));
  const table = $("flagged", HTMLTableElement);
  // A row being decided keeps its inputs: refreshing would drop what was typed.
  if (table.contains(document.activeElement) && document.activeElement !== document.body) return;
  table.hidden = page.tasks.length === 0;
  $("flagged-none").hidden = page.tasks.length > 0;
  clear(table.tBodies[0], page.tasks.map(flaggedRow));
}

/** @param {FlaggedTask} task */
function flaggedRow(task) {
  const others = task.allowed_vendors.filter((v) => v !== task.vendor_id);
  const names = task.vendor_names || {};
  const vendor = el("select", { "aria-label": "vendor to send it to" }, others.map((v) => el("option", { value: v, title: v }, names[v] || v)));
  const reason = el("input", { type: "text", placeholder: "why it leaves the batch", "aria-label": "reason for dropping", maxlength: 500 });
  return el(
    "tr",
    { dataset: { task: task.id } },
    el("td", {}, el("img", { class: "thumb", src: task.image.url, alt: `the picture of item ${task.item_id}` })),
    el("td", {}, task.project_name, el("div", { class: "muted", title: task.item_id }, `item ${task.item_id.slice(0, 12)}…`)),
    el(
      "td",
      {},
      el("ul", {}, task.skips.map((s) => el("li", {}, `${s.reason.replaceAll("_", " ")}${s.comment ? `: “${s.comment}”` : ""}`, el("span", { class: "muted" }, ` (${s.annotator_id})`)))),
    ),
    el("td", {}, task.flagged_at ? new Date(task.flagged_at).toLocaleString() : "–"),
    el(
      "td",
      {},
      el(
        "div",
        { class: "decide" },
        el("button", { type: "button", onclick: () => decide(task, "return", {}, "returned to the pool") }, "Return to pool"),
        others.length
          ? [vendor, el("button", { type: "button", onclick: () => decide(task, "return", { vendor_id: /** @type {HTMLSelectElement} */ (vendor).value }, "sent to the vendor") }, "Send")]
          : null,
        reason,
        el(
          "button",
          {
            type: "button",
            class: "danger",
            onclick: () => {
              const why = /** @type {HTMLInputElement} */ (reason).value.trim();
              if (!why) return toast("Say why the item leaves the batch", "error");
              return decide(task, "drop", { reason: why }, "dropped from its batch");
            },
          },
          "Drop item",
        ),
      ),
    ),
  );
}

/**
 * @param {FlaggedTask} task
 * @param {"return" | "drop"} action
 * @param {Record<string, string>} body
 * @param {string} done what to say once it worked
 */
async function decide(task, action, body, done) {
  await act(() => api("dispatch", "POST", `/v1/flagged-tasks/${task.id}/${action}`, body), `Task ${done}`, () => {
    /** @type {HTMLElement} */ (document.activeElement)?.blur?.(); // the queue redraws only when nothing in it has focus
    return Promise.allSettled([showFlagged(), showProjects()]);
  });
}

async function showDeliveries() {
  const deliveries = /** @type {Delivery[]} */ (await api("export", "GET", "/v1/deliveries"));
  clear(
    $("deliveries", HTMLTableElement).tBodies[0],
    deliveries.map((d) =>
      el(
        "tr",
        {},
        el("td", {}, d.id),
        el("td", { title: d.batch_id }, batchNames.get(d.batch_id) ?? d.batch_id),
        el("td", {}, d.kind),
        el("td", { class: d.status === "ready" ? "ok" : "" }, d.status),
        el("td", {}, d.images ?? "–"),
        el("td", {}, new Date(d.created_at).toLocaleString()),
        el("td", {}, d.status === "ready" ? el("button", { type: "button", onclick: () => download(d.id) }, "Download") : ""),
      ),
    ),
  );
  const logs = /** @type {Webhook[][]} */ (await Promise.all(deliveries.slice(0, 20).map((d) => api("export", "GET", `/v1/deliveries/${d.id}/webhooks`))));
  const batchOf = new Map(deliveries.map((d) => [d.id, d]));
  clear(
    $("webhooks", HTMLTableElement).tBodies[0],
    logs.flat().map((w) => {
      const last = w.attempts[w.attempts.length - 1];
      const delivery = batchOf.get(w.delivery_id);
      return el(
        "tr",
        {},
        el("td", { title: w.delivery_id }, delivery ? `${batchNames.get(delivery.batch_id) ?? delivery.batch_id} (${delivery.kind})` : w.delivery_id),
        el("td", {}, w.url),
        el("td", { class: w.status === "failed" ? "error" : w.status === "delivered" ? "ok" : "" }, w.status),
        el("td", {}, String(w.attempts.length)),
        el("td", {}, last ? last.status_code ?? last.error ?? "–" : "–"),
        el("td", {}, w.status === "pending" ? "" : el("button", { type: "button", onclick: () => resend(w) }, "Send again")),
      );
    }),
  );
}

/** @param {Webhook} w a delivery's webhook, delivered or given up on: posted once more */
async function resend(w) {
  await act(() => api("export", "POST", `/v1/deliveries/${w.delivery_id}/webhooks`), "The webhook is sent again", showDeliveries);
}

/** @param {string} id a ready delivery's */
async function download(id) {
  // The link is presigned and short-lived: asked for at the moment of the click.
  const detail = /** @type {Delivery & { download_url: string }} */ (await api("export", "GET", `/v1/deliveries/${id}`));
  window.location.assign(detail.download_url);
}

// ----- platform --------------------------------------------------------------------------------

/**
 * @param {string} text Prometheus' text format
 * @returns {Sample[]}
 */
function parseMetrics(text) {
  const samples = [];
  for (const line of text.split("\n")) {
    const match = /^(\w+)(?:\{([^}]*)\})?\s+([-+0-9.eE]+|NaN)$/.exec(line);
    if (!match) continue;
    const labels = Object.fromEntries([...(match[2] || "").matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/**
 * @param {Sample[]} samples
 * @param {string} name
 * @param {(labels: Record<string, string>) => boolean} [where]
 */
const sum = (samples, name, where = () => true) =>
  samples.filter((s) => s.name === name && where(s.labels)).reduce((t, s) => t + s.value, 0);

async function showPlatform() {
  const urls = await services();
  const rows = [];
  /** @type {Sample[]} */
  let tasks = [];
  let active = 0;
  for (const service of SERVICES) {
    const response = await fetch(`${urls[service]}/metrics`, { headers: { Authorization: `Bearer ${token()}` } });
    if (!response.ok) throw new Error(`${service} /metrics: ${response.status}`);
    const samples = parseMetrics(await response.text());
    const handled = sum(samples, "aviary_events_consumed_total", (l) => l.outcome === "ok");
    const now = Date.now();
    const before = previous.get(service);
    const rate = before && now > before.at ? ((handled - before.handled) * 1000) / (now - before.at) : null;
    previous.set(service, { at: now, handled });
    rows.push(
      el(
        "tr",
        {},
        el("td", {}, service),
        el("td", {}, String(sum(samples, "aviary_queue_messages", (l) => l.service === service && l.queue === "main"))),
        el("td", {}, String(sum(samples, "aviary_queue_messages", (l) => l.service === service && l.queue === "dead_letter"))),
        el("td", {}, rate === null ? "…" : rate.toFixed(1)),
        el("td", {}, String(sum(samples, "aviary_outbox_backlog"))),
      ),
    );
    if (service === "dispatch") {
      tasks = samples.filter((s) => s.name === "aviary_tasks");
      active = sum(samples, "aviary_annotators_active");
    }
  }
  clear($("stages", HTMLTableElement).tBodies[0], rows);
  clear(
    $("cards"),
    el("div", { class: "card" }, el("div", { class: "muted" }, "annotators at work"), el("div", { class: "value" }, String(active))),
    tasks.map((t) => el("div", { class: "card" }, el("div", { class: "muted" }, `tasks ${t.labels.state}`), el("div", { class: "value" }, String(t.value)))),
  );
}

async function showQuality() {
  const [vendors, annotators] = /** @type {[Scores, Scores]} */ (
    await Promise.all([
      api("review", "GET", "/v1/scores", undefined, { group_by: "vendor" }),
      api("review", "GET", "/v1/scores", undefined, { group_by: "annotator" }),
    ])
  );
  clear($("quality", HTMLTableElement).tBodies[0], vendors.rows.map(scoreRow));
  clear($("annotator-scores", HTMLTableElement).tBodies[0], annotators.rows.map(scoreRow));
}

/** @param {import("/ui/common/common.js").ScoreRow} r a vendor's or an annotator's figures */
function scoreRow(r) {
  return el(
    "tr",
    {},
    el("td", { title: [r.key, r.vendor_id].filter(Boolean).join(" · ") }, r.name ?? r.key, r.vendor_name ? el("div", { class: "muted" }, r.vendor_name) : null),
    el("td", {}, String(r.submitted)),
    el("td", {}, String(r.accepted)),
    el("td", {}, String(r.rejected)),
    el("td", {}, percent(r.acceptance_rate)),
    el("td", {}, percent(r.agreement)),
    el("td", {}, percent(r.gold_accuracy)),
    el("td", {}, r.hours_worked.toFixed(1)),
  );
}
