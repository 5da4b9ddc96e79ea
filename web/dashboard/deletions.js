// @ts-check
// Deleting on the dashboard (clients, the operator): a project's or a batch's **Delete** asks
// for its name to be typed in a dialog, then `DELETE /v1/projects|batches/{id}` (ingest); the
// deletion is followed until every service has removed its part, and its certificate saved as
// JSON. The **Deletions** table lists the organisation's (the operator's: everyone's,
// `GET /v1/deletions`), newest first.
import { api, byId as $, clear, el, messageOf, saveFile, toast } from "/ui/common/common.js";

/**
 * What one service removed, as the certificate says.
 * @typedef {{ records: Record<string, number>, objects: Record<string, number>, objects_sha256: string, applied_at: string }} ServiceReport
 */
/**
 * Proof of a deletion; `digest` is the SHA-256 of the rest as canonical JSON (sorted keys, no
 * spaces), which anyone holding the file can recompute (`aviary.client.verify_certificate`).
 * @typedef {object} Certificate
 * @property {string} deletion_id
 * @property {string} target_id
 * @property {string} completed_at
 * @property {Record<string, ServiceReport>} services
 * @property {number} records_removed
 * @property {number} objects_removed
 * @property {string[]} content_sha256
 * @property {string} digest
 */
/**
 * A deletion (DeletionRead): pending until every service has reported, then complete.
 * @typedef {object} Deletion
 * @property {string} id
 * @property {"item" | "batch" | "project" | "org"} scope
 * @property {("records" | "media" | "packages")[]} parts what goes (a retention may take media or packages first)
 * @property {string} target_id
 * @property {"pending" | "complete"} status
 * @property {string} requested_by
 * @property {string} requested_at
 * @property {string[]} services_done
 * @property {Certificate | null} certificate
 */
/** @typedef {"project" | "batch"} Scope what the dashboard deletes */

const ROUTES = { project: "projects", batch: "batches" };
// What goes with each, said before it goes.
const WHAT = {
  project:
    "Every batch and picture of the project goes, from every service: the work done on them, the reviews, the deliveries and their files. This cannot be undone.",
  batch: "Every picture of the batch goes, from every service: the work done on them, the reviews, the batch's deliveries and their files. This cannot be undone.",
};
const FOLLOW_MS = 1000; // how often a deletion asked for here is looked at until complete
const FOLLOW_FOR_MS = 10 * 60 * 1000; // then the table's refresh takes over

export class Deletions {
  /** @param {() => Promise<unknown>} changed what to draw again once something is deleted */
  constructor(changed) {
    this.changed = changed;
    /** @type {Map<string, string>} projects' and batches' names by id, as the tables showed them */
    this.names = new Map();
    /** @type {{ scope: Scope, id: string, name: string } | null} what the dialog asks about */
    this.asked = null;
    const input = $("delete-name", HTMLInputElement);
    input.addEventListener("input", () => {
      $("delete-confirm", HTMLButtonElement).disabled = !this.typed();
    });
    $("delete-cancel").addEventListener("click", () => $("delete-dialog", HTMLDialogElement).close());
    $("delete-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.confirm().catch((error) => toast(messageOf(error), "error"));
    });
  }

  /**
   * A **Delete** button for a project or a batch of the projects table.
   * @param {Scope} scope
   * @param {string} id
   * @param {string} name as the table shows it: what is to be typed
   */
  button(scope, id, name) {
    this.names.set(id, name);
    return el("button", { type: "button", class: "danger", "aria-label": `Delete ${scope} ${name}`, onclick: () => this.ask(scope, id, name) }, "Delete");
  }

  /**
   * @param {Scope} scope
   * @param {string} id
   * @param {string} name
   */
  ask(scope, id, name) {
    this.asked = { scope, id, name };
    $("delete-title").textContent = `Delete the ${scope} ${name}?`;
    $("delete-what").textContent = WHAT[scope];
    $("delete-label").textContent = `Type the ${scope}'s name, ${name}, to delete it`;
    $("delete-name", HTMLInputElement).value = "";
    $("delete-error").textContent = "";
    $("delete-confirm", HTMLButtonElement).disabled = true;
    $("delete-dialog", HTMLDialogElement).showModal();
    $("delete-name").focus();
  }

  /** Whether the name typed is the name asked for. */
  typed() {
    return this.asked !== null && $("delete-name", HTMLInputElement).value.trim() === this.asked.name.trim();
  }

  async confirm() {
    const asked = this.asked;
    if (!asked || !this.typed()) return;
    const button = $("delete-confirm", HTMLButtonElement);
    button.disabled = true;
    /** @type {Deletion} */
    let deletion;
    try {
      deletion = /** @type {Deletion} */ (await api("ingest", "DELETE", `/v1/${ROUTES[asked.scope]}/${asked.id}`));
    } catch (error) {
      $("delete-error").textContent = messageOf(error); // the dialog stays, saying why
      button.disabled = false;
      return;
    }
    $("delete-dialog", HTMLDialogElement).close();
    this.asked = null;
    toast(`Deleting the ${asked.scope} ${asked.name}`);
    this.status(deletion);
    await Promise.allSettled([this.changed(), this.show()]);
    await this.follow(deletion);
  }

  /**
   * Look at a deletion until it is complete, saying how it stands, then draw the tables again.
   * @param {Deletion} deletion
   */
  async follow(deletion) {
    let d = deletion;
    const until = Date.now() + FOLLOW_FOR_MS;
    while (d.status === "pending" && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, FOLLOW_MS));
      d = /** @type {Deletion} */ (await api("ingest", "GET", `/v1/deletions/${d.id}`));
      this.status(d);
    }
    if (d.status !== "complete") return;
    toast(`The ${d.scope} ${this.nameOf(d)} is deleted everywhere`, "ok");
    await Promise.allSettled([this.changed(), this.show()]);
  }

  /**
   * The line under the projects table about the deletion asked for last.
   * @param {Deletion} d
   */
  status(d) {
    const line = $("deletion-status");
    line.hidden = false;
    const name = `${d.scope} ${this.nameOf(d)}`;
    if (!d.certificate) {
      line.className = "muted";
      clear(line, `Deleting the ${name}: pending (${d.services_done.length} services done)…`);
      return;
    }
    line.className = "ok";
    clear(
      line,
      `The ${name} is deleted everywhere: ${d.certificate.records_removed} records and ${d.certificate.objects_removed} files removed. `,
      this.certificateButton(d, "Download the certificate"),
    );
  }

  /** @param {Deletion} d */
  nameOf(d) {
    return this.names.get(d.target_id) ?? d.target_id;
  }

  /**
   * @param {Deletion} d a complete deletion
   * @param {string} label
   */
  certificateButton(d, label) {
    const certificate = d.certificate;
    if (!certificate) return null;
    return el(
      "button",
      { type: "button", class: "certificate", onclick: () => saveFile(`aviary-deletion-${d.id}.json`, JSON.stringify(certificate, null, 2), "application/json") },
      label,
    );
  }

  async show() {
    const deletions = /** @type {Deletion[]} */ (await api("ingest", "GET", "/v1/deletions"));
    clear(
      $("deletions", HTMLTableElement).tBodies[0],
      deletions.map((d) =>
        el(
          "tr",
          { dataset: { deletion: d.id } },
          el("td", {}, d.parts.includes("records") ? d.scope : `${d.scope} (${d.parts.join(" and ")} only)`),
          el("td", { title: d.target_id }, this.nameOf(d)),
          el("td", { class: d.status === "complete" ? "ok" : "" }, d.status),
          el("td", {}, d.requested_by),
          el("td", {}, new Date(d.requested_at).toLocaleString()),
          el("td", {}, d.certificate ? String(d.certificate.records_removed) : "–"),
          el("td", {}, d.certificate ? String(d.certificate.objects_removed) : "–"),
          el("td", {}, this.certificateButton(d, "Certificate")),
        ),
      ),
    );
  }
}
