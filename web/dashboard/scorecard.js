// @ts-check
// A client's vendor scorecard: the vendors of its projects side by side over a period, on
// what decides which vendor gets the next batch: how much of their work is accepted, how
// well their people agree, how they do on gold, how much is rejected, how long a task takes
// (GET /v1/scores?group_by=vendor, narrowed to one project if chosen).
import { api, byId as $, clear, el } from "/ui/common/common.js";

/** @typedef {import("/ui/common/common.js").ScoreRow} ScoreRow */
/** @typedef {ScoreRow & { corrected: number, appealed: number, overturned: number, rework: number, throughput_per_hour: number | null }} VendorRow */

const DAY_MS = 24 * 3600 * 1000;

/** @param {number | null | undefined} x */
const percent = (x) => (x === null || x === undefined ? "–" : `${Math.round(x * 100)} %`);

export async function showScorecard() {
  const project = $("scorecard-project", HTMLSelectElement).value;
  const days = Number($("scorecard-period", HTMLSelectElement).value);
  /** @type {Record<string, string | undefined>} */
  const query = { group_by: "vendor", project_id: project || undefined };
  if (days) query.since = new Date(Date.now() - days * DAY_MS).toISOString();
  const scores = /** @type {{ rows: VendorRow[] }} */ (await api("review", "GET", "/v1/scores", undefined, query));
  // The best first: most of its work accepted, then agreement.
  const rows = [...scores.rows].sort((a, b) => (b.acceptance_rate ?? -1) - (a.acceptance_rate ?? -1) || (b.agreement ?? -1) - (a.agreement ?? -1));
  $("scorecard-none").hidden = rows.length > 0;
  clear(
    $("scorecard", HTMLTableElement).tBodies[0],
    rows.map((r) =>
      el(
        "tr",
        {},
        el("td", { title: r.key }, r.name ?? r.key),
        el("td", {}, String(r.submitted)),
        el("td", {}, percent(r.acceptance_rate)),
        el("td", {}, percent(r.agreement)),
        el("td", {}, percent(r.gold_accuracy)),
        el("td", {}, percent(r.submitted ? r.rejected / r.submitted : null)),
        el("td", {}, r.appealed ? `${r.overturned} of ${r.appealed}` : "–"),
        el("td", {}, r.submitted && r.hours_worked ? `${Math.round((r.hours_worked * 3600) / r.submitted)} s` : "–"),
      ),
    ),
  );
}

/** The project choice follows the client's projects. @param {Map<string, string>} projects */
export function scorecardProjects(projects) {
  const choice = $("scorecard-project", HTMLSelectElement);
  const chosen = choice.value;
  clear(choice, el("option", { value: "" }, "all projects"), [...projects].map(([id, name]) => el("option", { value: id, selected: id === chosen }, name)));
}
