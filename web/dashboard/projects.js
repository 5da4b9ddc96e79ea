// @ts-check
// The dashboard's project form (clients): name, media, an ontology editor (classes with their
// kind, a skeleton's keypoints and attributes), vendors with their shares and piece rates, the
// review policy, a webhook, and instructions with a preview as annotators will read them (text,
// never markup). The same form edits a project: saving publishes its next version, and work
// already handed out keeps the version it was made with.
import { paletteColour } from "/ui/common/painter.js";
import { ApiError, api, byId as $, clear, el, toast } from "/ui/common/common.js";

const KINDS = ["bbox", "polygon", "polyline", "keypoints", "classification", "mask"];
// What a new version is made of (the API's ProjectUpdate): everything the form does not show
// is sent back as it was, so editing the classes never resets, say, the delivery formats.
const SETTINGS = [
  "name", "ontology", "instructions", "overlap", "vendors", "review", "reject_reasons", "piece_rate",
  "priority", "deadline", "delivery_formats", "include_images", "include_people", "webhook_url",
  "media", "video", "audio", "assist", "privacy", "onboarding",
];

/** @typedef {{ name: string, type: string, options: string[], required?: boolean }} AttributeSpec */
/**
 * @typedef {{ id: number, name: string, kind: string, skeleton?: { keypoints: string[], edges: number[][] } | null,
 *   attributes: AttributeSpec[], colour?: string | null }} OntologyClass
 */
/** @typedef {{ vendor_id: string, share: number, piece_rate?: number | null }} VendorShare */
/**
 * @typedef {{ id: string, name: string, version: number, media: string, ontology: { classes: OntologyClass[] },
 *   vendors: VendorShare[], piece_rate: number, review: Record<string, unknown>, overlap: number,
 *   instructions: string, webhook_url: string | null } & Record<string, unknown>} ProjectDoc
 */

export class ProjectForm {
  /** @param {() => Promise<void>} saved what to refresh once a project is made or changed */
  constructor(saved) {
    this.saved = saved;
    /** @type {ProjectDoc | null} the project being edited; null while making a new one */
    this.editing = null;
    /** @type {{ id: string, name: string }[]} */
    this.vendors = [];
    $("add-class").addEventListener("click", () => this.addClass());
    $("add-vendor").addEventListener("click", () => this.addVendor());
    $("project-instructions").addEventListener("input", () => this.preview());
    $("project-cancel").addEventListener("click", () => this.reset());
    $("project-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.save().catch((error) => toast(error.message, "error"));
    });
    this.addClass();
    this.loadVendors().catch((error) => toast(error.message, "error"));
  }

  async loadVendors() {
    this.vendors = /** @type {{ id: string, name: string }[]} */ (await api("ingest", "GET", "/v1/vendors"));
    if (!$("vendor-rows", HTMLTableElement).tBodies[0].rows.length) this.addVendor();
  }

  /** @param {OntologyClass} [c] an existing class (its id stays: annotations name it) */
  addClass(c) {
    const kind = el("select", { "aria-label": "kind" }, KINDS.map((k) => el("option", { value: k, selected: k === c?.kind }, k)));
    const rows = $("class-rows", HTMLTableElement).tBodies[0].rows.length;
    const colour = c?.colour ?? paletteColour(c?.id ?? rows + 1);
    const row = el(
      "tr",
      { dataset: c ? { classId: String(c.id), skeleton: JSON.stringify(c.skeleton ?? null) } : {} },
      el("td", {}, el("input", { type: "text", "aria-label": "class name", maxlength: 100, value: c?.name ?? "" })),
      el("td", {}, kind),
      el("td", {}, el("input", { type: "color", "aria-label": "colour", value: colour })),
      el("td", {}, el("input", { type: "text", "aria-label": "keypoints", placeholder: "head, hip, foot", value: c?.skeleton?.keypoints.join(", ") ?? "" })),
      el("td", {}, el("input", { type: "text", "aria-label": "attributes", placeholder: "occluded:boolean, colour*:enum:red|blue", value: attributesText(c?.attributes ?? []) })),
      el("td", {}, el("button", { type: "button", onclick: () => row.remove() }, "Remove")),
    );
    $("class-rows", HTMLTableElement).tBodies[0].append(row);
  }

  /** @param {VendorShare} [v] */
  addVendor(v) {
    const known = this.vendors.some((o) => o.id === v?.vendor_id) || !v ? this.vendors : [...this.vendors, { id: v.vendor_id, name: v.vendor_id }];
    const row = el(
      "tr",
      {},
      el("td", {}, el("select", { "aria-label": "vendor" }, el("option", { value: "" }, "choose a vendor"), known.map((o) => el("option", { value: o.id, title: o.id, selected: o.id === v?.vendor_id }, o.name)))),
      el("td", {}, el("input", { type: "number", "aria-label": "share", min: 0, max: 1, step: 0.05, value: v ? String(v.share) : "" })),
      el("td", {}, el("input", { type: "number", "aria-label": "vendor piece rate", min: 0, max: 1000, step: 0.001, value: v?.piece_rate ?? "" })),
      el("td", {}, el("button", { type: "button", onclick: () => row.remove() }, "Remove")),
    );
    $("vendor-rows", HTMLTableElement).tBodies[0].append(row);
  }

  preview() {
    $("instructions-preview").textContent = $("project-instructions", HTMLTextAreaElement).value;
  }

  /** Fill the form with a project, to save as its next version. @param {string} projectId */
  async edit(projectId) {
    const project = /** @type {ProjectDoc} */ (await api("ingest", "GET", `/v1/projects/${projectId}`));
    this.reset();
    this.editing = project;
    $("project-form-title").textContent = `Edit ${project.name}`;
    $("project-editing").textContent = `Version ${project.version}: saving makes version ${project.version + 1}; tasks already made keep theirs.`;
    $("project-editing").hidden = false;
    await this.showVersions(project.id);
    $("project-submit").textContent = `Save as version ${project.version + 1}`;
    $("project-cancel").hidden = false;
    $("project-name", HTMLInputElement).value = project.name;
    const media = $("project-media", HTMLSelectElement);
    media.value = project.media;
    media.disabled = true; // a project labels one kind of media for life
    clear($("class-rows", HTMLTableElement).tBodies[0]);
    for (const c of project.ontology.classes) this.addClass(c);
    clear($("vendor-rows", HTMLTableElement).tBodies[0]);
    for (const v of project.vendors) this.addVendor(v);
    $("project-rate", HTMLInputElement).value = String(project.piece_rate);
    $("project-review", HTMLSelectElement).value = String(project.review.mode);
    $("project-review-rate", HTMLInputElement).value = String(project.review.rate);
    $("project-gold-rate", HTMLInputElement).value = String(project.review.gold_rate);
    $("project-reviewed-by", HTMLSelectElement).value = String(project.review.reviewed_by);
    $("project-overlap", HTMLInputElement).value = String(project.overlap);
    $("project-instructions", HTMLTextAreaElement).value = project.instructions;
    $("project-webhook", HTMLInputElement).value = project.webhook_url ?? "";
    this.preview();
    /** @type {HTMLDetailsElement} */ ($("new-project")).open = true;
    $("project-name").focus();
  }

  /**
   * The project's versions, newest first, each with what changed (GET /v1/projects/{id}/versions).
   * @param {string} projectId
   */
  async showVersions(projectId) {
    const versions = /** @type {{ version: number, saved_at: string, saved_by: string, changes: string[] }[]} */ (
      await api("ingest", "GET", `/v1/projects/${projectId}/versions`)
    );
    clear(
      $("project-versions"),
      versions.map((v) =>
        el("li", { value: v.version }, `v${v.version} · ${new Date(v.saved_at).toLocaleString()} · ${v.saved_by}: `, el("span", { class: "muted" }, v.changes.join("; ") || "no change")),
      ),
    );
    $("project-history").hidden = versions.length === 0;
  }

  /** Back to an empty form for a new project. */
  reset() {
    this.editing = null;
    /** @type {HTMLFormElement} */ ($("project-form")).reset();
    $("project-media", HTMLSelectElement).disabled = false;
    $("project-form-title").textContent = "New project";
    $("project-editing").hidden = true;
    $("project-history").hidden = true;
    $("project-submit").textContent = "Create the project";
    $("project-cancel").hidden = true;
    $("project-error").textContent = "";
    clear($("class-rows", HTMLTableElement).tBodies[0]);
    clear($("vendor-rows", HTMLTableElement).tBodies[0]);
    this.addClass();
    this.addVendor();
    this.preview();
  }

  /** @returns {OntologyClass[]} the ontology's classes: existing ones keep their ids, new ones follow */
  classes() {
    const rows = [...$("class-rows", HTMLTableElement).tBodies[0].rows];
    let next = Math.max(0, ...rows.map((r) => Number(r.dataset.classId || 0))) + 1;
    return rows
      .map((row) => ({ row, values: [...row.querySelectorAll("input, select")].map((f) => /** @type {HTMLInputElement} */ (f).value.trim()) }))
      .filter(({ values }) => values[0])
      .map(({ row, values: [name, kind, colour, keypoints, attributes] }) => {
        const names = keypoints.split(",").map((k) => k.trim()).filter(Boolean);
        const before = JSON.parse(row.dataset.skeleton || "null");
        // The skeleton's edges stay as they were while its keypoints do; new ones chain them.
        const edges = before && before.keypoints.join() === names.join() ? before.edges : names.slice(1).map((_, k) => [k + 1, k + 2]);
        const skeleton = kind === "keypoints" ? { keypoints: names, edges } : undefined;
        const id = row.dataset.classId ? Number(row.dataset.classId) : next++;
        return { id, name, kind, skeleton, attributes: parseAttributes(attributes), colour };
      });
  }

  /** @returns {VendorShare[]} each vendor chosen, its share (the rest evenly) and its own rate if set */
  shares() {
    const rows = [...$("vendor-rows", HTMLTableElement).tBodies[0].rows].map((row) =>
      [...row.querySelectorAll("input, select")].map((f) => /** @type {HTMLInputElement} */ (f).value.trim()),
    );
    const chosen = rows.filter(([vendor]) => vendor);
    const given = chosen.filter(([, share]) => share).reduce((total, [, share]) => total + Number(share), 0);
    const rest = chosen.filter(([, share]) => !share).length;
    return chosen.map(([vendor_id, share, rate]) => ({
      vendor_id,
      share: share ? Number(share) : (1 - given) / rest,
      piece_rate: rate === "" ? null : Number(rate),
    }));
  }

  /** The project as the form says, over the settings it does not show. */
  body() {
    /** @type {Record<string, unknown>} */
    const before = this.editing ?? {};
    /** @type {Record<string, unknown>} */
    const body = Object.fromEntries(SETTINGS.filter((k) => k in before).map((k) => [k, before[k]]));
    const webhook = $("project-webhook", HTMLInputElement).value.trim();
    const secret = $("project-webhook-secret", HTMLInputElement).value;
    Object.assign(body, {
      name: $("project-name", HTMLInputElement).value.trim(),
      media: $("project-media", HTMLSelectElement).value,
      ontology: { classes: this.classes() },
      vendors: this.shares(),
      piece_rate: Number($("project-rate", HTMLInputElement).value || 0),
      review: {
        .../** @type {Record<string, unknown>} */ (before.review ?? {}),
        mode: $("project-review", HTMLSelectElement).value,
        rate: Number($("project-review-rate", HTMLInputElement).value),
        gold_rate: Number($("project-gold-rate", HTMLInputElement).value),
        reviewed_by: $("project-reviewed-by", HTMLSelectElement).value,
      },
      overlap: Number($("project-overlap", HTMLInputElement).value || 1),
      instructions: $("project-instructions", HTMLTextAreaElement).value,
      webhook_url: webhook || null,
    });
    if (secret) body.webhook_secret = secret;
    return body;
  }

  async save() {
    $("project-error").textContent = "";
    const editing = this.editing;
    try {
      const project = /** @type {{ id: string, name: string, version: number }} */ (
        editing ? await api("ingest", "PUT", `/v1/projects/${editing.id}`, this.body()) : await api("ingest", "POST", "/v1/projects", this.body())
      );
      toast(editing ? `Project ${project.name} saved as version ${project.version}` : `Project ${project.name} created`);
      this.reset();
      await this.saved();
    } catch (error) {
      $("project-error").textContent = explain(/** @type {ApiError} */ (error));
    }
  }
}

/**
 * The API's refusal with each field it names: "the request does not match the schema: vendors:
 * List should have at least 1 item".
 * @param {ApiError | Error} error
 */
function explain(error) {
  const details = error instanceof ApiError && Array.isArray(error.details) ? error.details : [];
  const fields = details
    .map((d) => (d && typeof d === "object" && "msg" in d ? `${(d.loc || []).slice(1).join(".")}: ${d.msg}` : ""))
    .filter(Boolean);
  return fields.length ? `${error.message}: ${fields.join("; ")}` : error.message;
}

/**
 * `occluded:boolean, colour*:enum:red|blue, note:text` as the API's attribute specs (a `*` after
 * the name: an answer is required).
 * @param {string} text
 * @returns {AttributeSpec[]}
 */
function parseAttributes(text) {
  return text
    .split(",")
    .map((a) => a.trim())
    .filter(Boolean)
    .map((a) => {
      const [name, type = "boolean", options = ""] = a.split(":").map((p) => p.trim());
      const required = name.endsWith("*");
      return { name: required ? name.slice(0, -1).trim() : name, type, options: options ? options.split("|").map((o) => o.trim()) : [], required };
    });
}

/** The attribute specs as the form writes them. @param {AttributeSpec[]} specs */
function attributesText(specs) {
  return specs.map((s) => [`${s.name}${s.required ? "*" : ""}`, s.type, ...(s.options.length ? [s.options.join("|")] : [])].join(":")).join(", ");
}
