// @ts-check
// The dashboard's new project form (clients): name, media, an ontology editor (classes with
// their kind, a skeleton's keypoints and attributes), vendors and shares, review, overlap and
// instructions with a preview as annotators will read them (text, never markup).
import { ApiError, api, byId as $, el, toast } from "/ui/common/common.js";

const KINDS = ["bbox", "polygon", "polyline", "keypoints", "classification", "mask"];

export class ProjectForm {
  /** @param {() => Promise<void>} created what to refresh once a project is made */
  constructor(created) {
    this.created = created;
    $("add-class").addEventListener("click", () => this.addRow());
    $("project-instructions").addEventListener("input", () => this.preview());
    $("project-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.create().catch((error) => toast(error.message, "error"));
    });
    this.addRow();
  }

  addRow() {
    const kind = el("select", { "aria-label": "kind" }, KINDS.map((k) => el("option", { value: k }, k)));
    const row = el(
      "tr",
      {},
      el("td", {}, el("input", { type: "text", "aria-label": "class name", maxlength: 100 })),
      el("td", {}, kind),
      el("td", {}, el("input", { type: "text", "aria-label": "keypoints", placeholder: "head, hip, foot" })),
      el("td", {}, el("input", { type: "text", "aria-label": "attributes", placeholder: "occluded:boolean, colour:enum:red|blue" })),
      el("td", {}, el("button", { type: "button", onclick: () => row.remove() }, "Remove")),
    );
    $("class-rows", HTMLTableElement).tBodies[0].append(row);
  }

  preview() {
    $("instructions-preview").textContent = $("project-instructions", HTMLTextAreaElement).value;
  }

  /** @returns {object[]} the ontology's classes, numbered in order */
  classes() {
    const rows = [...$("class-rows", HTMLTableElement).tBodies[0].rows];
    return rows
      .map((row) => [...row.querySelectorAll("input, select")].map((f) => /** @type {HTMLInputElement} */ (f).value.trim()))
      .filter(([name]) => name)
      .map(([name, kind, keypoints, attributes], i) => {
        const names = keypoints.split(",").map((k) => k.trim()).filter(Boolean);
        const skeleton = kind === "keypoints" ? { keypoints: names, edges: names.slice(1).map((_, k) => [k + 1, k + 2]) } : undefined;
        return { id: i + 1, name, kind, skeleton, attributes: parseAttributes(attributes) };
      });
  }

  async create() {
    $("project-error").textContent = "";
    const lines = $("project-vendors", HTMLTextAreaElement).value.split("\n").map((l) => l.trim().split(/\s+/)).filter((l) => l[0]);
    const given = lines.filter((l) => l[1]).reduce((total, l) => total + Number(l[1]), 0);
    const rest = lines.filter((l) => !l[1]).length;
    const vendors = lines.map((l) => ({ vendor_id: l[0], share: l[1] ? Number(l[1]) : (1 - given) / rest }));
    const mode = $("project-review", HTMLSelectElement).value;
    const body = {
      name: $("project-name", HTMLInputElement).value.trim(),
      media: $("project-media", HTMLSelectElement).value,
      ontology: { classes: this.classes() },
      vendors,
      review: { mode },
      overlap: Number($("project-overlap", HTMLInputElement).value || 1),
      instructions: $("project-instructions", HTMLTextAreaElement).value,
    };
    try {
      const project = /** @type {{ id: string, name: string }} */ (await api("ingest", "POST", "/v1/projects", body));
      toast(`Project ${project.name} created`);
      /** @type {HTMLFormElement} */ ($("project-form")).reset();
      this.preview();
      await this.created();
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
 * `occluded:boolean, colour:enum:red|blue, note:text` as the API's attribute specs.
 * @param {string} text
 */
function parseAttributes(text) {
  return text
    .split(",")
    .map((a) => a.trim())
    .filter(Boolean)
    .map((a) => {
      const [name, type = "boolean", options = ""] = a.split(":").map((p) => p.trim());
      return { name, type, options: options ? options.split("|").map((o) => o.trim()) : [] };
    });
}
