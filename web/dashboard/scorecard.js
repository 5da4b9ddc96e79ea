// @ts-check
// A client's vendor scorecard: the vendors of its projects side by side over a period, on
// what decides which vendor gets the next batch: how much of their work is accepted, how
// well their people agree, how they do on gold, how much is rejected, how long a task takes
// (GET /v1/scores?group_by=vendor, narrowed to one project if chosen).
import { api, byId as $, clear, el, percent } from "/ui/common/common.js";
import { SERIES, axisColour } from "/ui/common/palette.js";
import { clearChart, drawChart } from "./plot.js";

/** @typedef {import("/ui/common/common.js").ScoreRow} ScoreRow */
/** @typedef {ScoreRow & { corrected: number, appealed: number, overturned: number, rework: number, throughput_per_hour: number | null, day?: string | null }} VendorRow */

/**
 * What the day-by-day chart can show: its name, its unit, and a row's value (null: none).
 * @type {Record<string, { label: string, unit: string, max: number | null, value: (r: VendorRow) => number | null }>}
 */
const MEASURES = {
  accepted: { label: "accepted", unit: "%", max: 100, value: (r) => share(r.acceptance_rate) },
  agreement: { label: "agreement", unit: "%", max: 100, value: (r) => share(r.agreement) },
  gold: { label: "gold accuracy", unit: "%", max: 100, value: (r) => share(r.gold_accuracy) },
  time: { label: "time per task", unit: "s", max: null, value: (r) => (r.submitted && r.hours_worked ? Math.round((r.hours_worked * 3600) / r.submitted) : null) },
};

/** @param {number | null | undefined} x a share, as a percentage */
const share = (x) => (x === null || x === undefined ? null : Math.round(x * 1000) / 10);

const DAY_S = 24 * 3600;
const DAY_MS = DAY_S * 1000;

export async function showScorecard() {
  const project = $("scorecard-project", HTMLSelectElement).value;
  const days = Number($("scorecard-period", HTMLSelectElement).value);
  /** @type {Record<string, string | undefined>} */
  const query = { group_by: "vendor", project_id: project || undefined };
  if (days) query.since = new Date(Date.now() - days * DAY_MS).toISOString();
  const [scores, daily] = /** @type {[{ rows: VendorRow[] }, { rows: VendorRow[] }]} */ (
    await Promise.all([
      api("review", "GET", "/v1/scores", undefined, query),
      api("review", "GET", "/v1/scores", undefined, { ...query, per_day: "true" }),
    ])
  );
  // The best first: most of its work accepted, then agreement.
  const rows = [...scores.rows].sort((a, b) => (b.acceptance_rate ?? -1) - (a.acceptance_rate ?? -1) || (b.agreement ?? -1) - (a.agreement ?? -1));
  $("scorecard-none").hidden = rows.length > 0;
  drawDaily(daily.rows, days, rows.map((r) => r.key));
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

/**
 * The share accepted each day, a line a vendor, and the same in words beside it.
 * @param {VendorRow[]} rows a row a vendor and day
 * @param {number} period the days shown back from today (0: all the days there are)
 * @param {string[]} order the vendors as the table lists them
 */
function drawDaily(rows, period, order) {
  const measure = MEASURES[$("scorecard-measure", HTMLSelectElement).value] ?? MEASURES.accepted;
  const target = $("scorecard-chart");
  clearChart(target);
  const days = [...new Set(rows.map((r) => r.day ?? ""))].filter(Boolean).sort();
  const xs = days.map((d) => Date.parse(`${d}T12:00:00Z`) / 1000);
  const named = new Map(rows.map((r) => [r.key, r.name ?? r.key]));
  const vendors = order.filter((id) => named.has(id)).map((id) => [id, named.get(id) ?? id]);
  /** @param {VendorRow} r */
  const said = (r) => {
    const v = measure.value(r);
    return v === null ? "–" : `${v}${measure.unit === "%" ? " %" : " s"}`;
  };
  const label = measure.label[0].toUpperCase() + measure.label.slice(1);
  $("scorecard-daily").textContent = vendors.length
    ? `${label} by day: ${vendors.map(([id, name]) => `${name} ${rows.filter((r) => r.key === id).map((r) => `${r.day} ${said(r)}`).join(", ")}`).join("; ")}.`
    : "";
  if (!days.length) return;
  const series = vendors.map(([id]) =>
    days.map((day) => {
      const row = rows.find((r) => r.key === id && r.day === day);
      return row ? measure.value(row) : null;
    }),
  );
  drawChart(
    target,
    {
      height: 180,
      // The period asked for, a day either side: one day of work is a point in its week.
      scales: {
        x: { range: [period ? Date.now() / 1000 - period * DAY_S : xs[0] - DAY_S, Math.max(Date.now() / 1000, xs[xs.length - 1]) + DAY_S / 2] },
        y: { range: (_u, _min, max) => [0, measure.max ?? Math.max(1, max * 1.1)] },
      },
      series: [{}, ...vendors.map(([, name], i) => ({ label: name, stroke: SERIES[i % SERIES.length], width: 2, spanGaps: true }))],
      axes: [{ stroke: axisColour() }, { stroke: axisColour(), label: `${measure.label} (${measure.unit})` }],
    },
    [xs, ...series],
  );
}

/** The project choice follows the client's projects. @param {Map<string, string>} projects */
export function scorecardProjects(projects) {
  const choice = $("scorecard-project", HTMLSelectElement);
  const chosen = choice.value;
  clear(choice, el("option", { value: "" }, "all projects"), [...projects].map(([id, name]) => el("option", { value: id, selected: id === chosen }, name)));
}
