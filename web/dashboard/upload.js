// @ts-check
// The dashboard's upload: a client starts a batch in a project, drops pictures (or chooses
// files), watches them go in four at a time with the refusals listed by reason, and seals the
// batch. Ingest keeps the same picture once per project, so dropping a folder again resumes it.
import { api, byId as $, clear, el, services, toast, token } from "/ui/common/common.js";

const AT_ONCE = 4;

/** @typedef {{ file: File, error: string }} Refusal */
/**
 * @typedef {{ id: string, total: number, pending: number, done: number, failed: number,
 *   urls?: { url: string, status: string, error: string | null, message: string | null }[] | null }} ImportState
 */

export class Uploader {
  constructor() {
    /** @type {string | null} */
    this.batch = null;
    this.total = 0;
    this.done = 0;
    this.kept = 0;
    this.again = 0;
    /** @type {Refusal[]} */
    this.refused = [];
    /** @type {File[]} files that met a network or server error: worth another try */
    this.failed = [];
    $("upload-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.start().catch((error) => toast(error.message, "error"));
    });
    const zone = $("drop-zone");
    zone.addEventListener("dragover", (e) => {
      e.preventDefault();
      zone.classList.add("over");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      zone.classList.remove("over");
      this.send([...(e.dataTransfer?.files || [])]);
    });
    const input = $("upload-files", HTMLInputElement);
    input.addEventListener("change", () => {
      this.send([...(input.files || [])]);
      input.value = "";
    });
    $("upload-retry").addEventListener("click", () => {
      const again = this.failed;
      this.failed = [];
      this.total -= again.length;
      this.done -= again.length;
      this.send(again);
    });
    $("upload-seal").addEventListener("click", () => this.seal().catch((error) => toast(error.message, "error")));
    $("import-go").addEventListener("click", () => this.importUrls().catch((error) => toast(error.message, "error")));
  }

  /** The addresses typed, fetched by ingest; the page follows the import until it is done. */
  async importUrls() {
    if (!this.batch) return;
    const urls = $("import-urls", HTMLTextAreaElement).value.split("\n").map((u) => u.trim()).filter(Boolean);
    if (!urls.length) return;
    let state = /** @type {ImportState} */ (await api("ingest", "POST", `/v1/batches/${this.batch}/imports`, { urls: urls.map((url) => ({ url })) }));
    while (true) {
      $("import-status").textContent = `${state.done} of ${state.total} fetched, ${state.failed} failed, ${state.pending} waiting`;
      if (!state.pending) break;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      state = /** @type {ImportState} */ (await api("ingest", "GET", `/v1/imports/${state.id}`));
    }
    clear(
      $("import-failed"),
      (state.urls || []).filter((u) => u.status === "failed").map((u) => el("li", {}, `${u.url}: ${u.error}: ${u.message ?? ""}`)),
    );
  }

  async start() {
    const project = $("upload-project", HTMLSelectElement).value;
    if (!project) return toast("Choose a project first", "error");
    const name = $("upload-batch-name", HTMLInputElement).value.trim();
    const batch = /** @type {{ id: string, name: string }} */ (await api("ingest", "POST", `/v1/projects/${project}/batches`, { name }));
    this.batch = batch.id;
    Object.assign(this, { total: 0, done: 0, kept: 0, again: 0, refused: [], failed: [] });
    $("upload-batch").textContent = batch.name || batch.id;
    $("upload-box").hidden = false;
    this.show();
  }

  /** @param {File[]} files */
  async send(files) {
    if (!this.batch || !files.length) return;
    this.total += files.length;
    this.show();
    const queue = [...files];
    const worker = async () => {
      for (let file = queue.shift(); file; file = queue.shift()) {
        await this.one(file);
        this.done += 1;
        this.show();
      }
    };
    await Promise.all(Array.from({ length: AT_ONCE }, worker));
  }

  /** @param {File} file */
  async one(file) {
    const url = new URL(`${(await services()).ingest}/v1/batches/${this.batch}/items`);
    url.searchParams.set("file_name", file.name);
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { Authorization: `Bearer ${token()}`, "Content-Type": file.type || "application/octet-stream" },
        body: file,
      });
      if (response.status === 201) this.kept += 1;
      else if (response.status === 200) this.again += 1; // the same picture was uploaded before
      else if (response.status >= 500 || response.status === 429) this.failed.push(file);
      else {
        const answer = await response.json().catch(() => null);
        const error = answer?.error ? `${answer.error.code}: ${answer.error.message}` : `HTTP ${response.status}`;
        this.refused.push({ file, error });
      }
    } catch {
      this.failed.push(file); // the network: try again
    }
  }

  show() {
    const bar = $("upload-bar");
    bar.style.width = `${this.total ? Math.round((this.done * 100) / this.total) : 0}%`;
    $("upload-count").textContent =
      `${this.done} of ${this.total} sent: ${this.kept} new, ${this.again} already there, ${this.refused.length} refused, ${this.failed.length} to try again`;
    clear($("upload-refused"), this.refused.map((r) => el("li", {}, `${r.file.name}: ${r.error}`)));
    $("upload-retry").hidden = this.failed.length === 0;
  }

  async seal() {
    if (!this.batch) return;
    const sealed = /** @type {{ item_count: number }} */ (await api("ingest", "POST", `/v1/batches/${this.batch}/seal`));
    toast(`Batch sealed with ${sealed.item_count} items`);
  }
}
