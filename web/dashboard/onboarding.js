// @ts-check
// The dashboard's onboarding (docs/onboarding.md): for each project that asks new people to
// train and pass an exam, who trained, who passed, who was admitted by hand and why, and
// everyone's skill; a vendor admin admits one of its people by hand (or takes it back) with a
// reason, which the audit log keeps.
import { api, byId as $, clear, el, percent } from "/ui/common/common.js";
import { act } from "./act.js";

/** @typedef {import("/ui/common/common.js").Claims} Claims */
/**
 * @typedef {{ project_id: string, name: string, people: number, admitted: number,
 *   onboarding: { training_tasks: number, exam_tasks: number, pass_mark: number, retry_after_hours: number, min_skill: number | null } }} GatedProject
 * @typedef {import("../label/training.js").Standing & { annotator_id: string, vendor_id: string, outcomes: number }} Standing
 */

const STAGES = { training: "training", exam: "exam due", waiting: "waiting to retry", admitted: "admitted" };

export class Onboarding {
  /** @param {Claims} me */
  constructor(me) {
    this.me = me;
    this.admins = me.role === "vendor_admin";
    $("admit-form").hidden = !this.admins;
    $("onboarding-project").addEventListener("change", () => this.showPeople());
    $("admit-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const who = $("admit-who", HTMLInputElement).value.trim();
      const admitted = !(e.submitter instanceof HTMLButtonElement && e.submitter.value === "withdraw");
      this.decide(who, admitted, $("admit-reason", HTMLInputElement).value.trim());
    });
  }

  async show() {
    const projects = /** @type {GatedProject[]} */ (await api("review", "GET", "/v1/onboarding/projects"));
    $("onboarding").hidden = !projects.length;
    if (!projects.length) return;
    const choice = $("onboarding-project", HTMLSelectElement);
    const chosen = choice.value;
    clear(
      choice,
      projects.map((p) => el("option", { value: p.project_id, selected: p.project_id === chosen }, `${p.name} (${p.admitted} of ${p.people} admitted)`)),
    );
    const project = projects.find((p) => p.project_id === choice.value) ?? projects[0];
    const o = project.onboarding;
    $("onboarding-settings").textContent =
      `${o.training_tasks} training tasks, an exam of ${o.exam_tasks} at ${percent(o.pass_mark)}, retry after ${o.retry_after_hours} h` +
      (o.min_skill !== null ? `, back to training under ${percent(o.min_skill)} skill` : "");
    await this.showPeople();
  }

  async showPeople() {
    const projectId = $("onboarding-project", HTMLSelectElement).value;
    if (!projectId) return;
    const people = /** @type {Standing[]} */ (await api("review", "GET", `/v1/projects/${projectId}/onboarding`));
    $("onboarding-none").hidden = people.length > 0;
    clear(
      $("onboarding-people", HTMLTableElement).tBodies[0],
      people.map((p) => {
        const last = p.attempts.filter((a) => a.passed !== null).at(-1);
        const by = p.admitted_by === "exam" ? "by the exam" : p.admitted_by?.startsWith("vendor_admin:") ? `by ${p.admitted_by.slice(13)}` : p.admitted_by ?? "";
        return el(
          "tr",
          { dataset: { annotator: p.annotator_id } },
          el("td", {}, p.annotator_id),
          el("td", {}, /** @type {Record<string, string>} */ (STAGES)[p.stage] ?? p.stage),
          el("td", {}, `${p.training_done} of ${p.training_required}`),
          el("td", {}, last ? `${percent(last.mean)} ${last.passed ? "passed" : "failed"} (${p.attempts.length})` : "–"),
          el("td", { class: p.admitted ? "ok" : "" }, p.admitted ? `yes, ${by}` : "no", p.reason ? el("div", { class: "muted" }, p.reason) : null),
          el(
            "td",
            { title: Object.entries(p.class_skill).map(([c, v]) => `${c} ${percent(v)}`).join(", ") },
            p.skill !== null ? `${percent(p.skill)} (${p.outcomes})` : "–",
            p.held_classes.length ? el("div", { class: "error" }, `held from ${p.held_classes.join(", ")}`) : null,
          ),
          el("td", {}, this.admins ? this.action(p) : null),
        );
      }),
    );
  }

  /**
   * The row's button fills the form with the person: the reason is asked there.
   * @param {Standing} p
   */
  action(p) {
    const label = p.admitted ? "Take back…" : "Admit…";
    return el("button", { type: "button", "aria-label": `${label} ${p.annotator_id}`, onclick: () => this.ask(p.annotator_id) }, label);
  }

  /** @param {string} who */
  ask(who) {
    $("admit-who", HTMLInputElement).value = who;
    $("admit-reason", HTMLInputElement).focus();
  }

  /**
   * @param {string} who
   * @param {boolean} admitted
   * @param {string} reason recorded in the audit log
   */
  async decide(who, admitted, reason) {
    const projectId = $("onboarding-project", HTMLSelectElement).value;
    const path = `/v1/projects/${projectId}/onboarding/${encodeURIComponent(who)}`;
    await act(() => api("review", "PUT", path, { admitted, reason }), admitted ? `${who} admitted` : `${who}'s admission taken back`, () => this.show());
    if (admitted) /** @type {HTMLFormElement} */ ($("admit-form")).reset();
  }
}
