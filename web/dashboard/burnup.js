// @ts-check
// A batch's burn-up on the dashboard: the items done over time (accepted, or dropped from the
// batch), the forecast at the pace of the last hour as a dashed line to the finish, the batch's
// size, and the project's deadline as a red line where it falls in view; the same figures in a
// sentence beside it, for those who do not see the chart (GET /v1/batches/{id}/burnup). Drawn
// with uPlot (web/common/uplot/, vendored: MIT).
import { api, byId as $, el, toast } from "/ui/common/common.js";
import { ALERT, SERIES, axisColour } from "/ui/common/palette.js";
import { clearChart, drawChart, markLine } from "./plot.js";

/**
 * @typedef {{ batch_id: string, sealed: boolean, total: number, done: number, points: { at: string, done: number }[],
 *   per_hour: number | null, finish_at: string | null, deadline: string | null }} Burnup
 */

/** @param {string} iso */
const seconds = (iso) => Date.parse(iso) / 1000;

/**
 * Open the burn-up of a batch under the projects table.
 * @param {string} batchId
 * @param {string} name the batch's name, for the heading
 */
export async function showBurnup(batchId, name) {
  const b = /** @type {Burnup} */ (await api("ingest", "GET", `/v1/batches/${batchId}/burnup`));
  $("burnup-box").hidden = false;
  $("burnup-title").textContent = `Burn-up: ${name}`;
  $("burnup-text").textContent = describe(b);
  const target = $("burnup-chart");
  clearChart(target);
  if (!b.points.length) return;
  const now = Date.now() / 1000;
  const xs = b.points.map((p) => seconds(p.at));
  /** @type {(number | null)[]} */
  const done = b.points.map((p) => p.done);
  /** @type {(number | null)[]} */
  const forecast = done.map(() => null);
  const finish = b.finish_at && b.done < b.total ? seconds(b.finish_at) : null;
  if (finish !== null) {
    forecast[forecast.length - 1] = b.done;
    xs.push(Math.max(finish, now));
    done.push(null);
    forecast.push(b.total);
  }
  const deadline = b.deadline ? seconds(b.deadline) : null;
  drawChart(
    target,
    {
      height: 220,
      scales: { y: { range: [0, Math.max(b.total, 1)] } },
      series: [
        {},
        { label: "done", stroke: SERIES[0], width: 2 },
        { label: "forecast", stroke: SERIES[1], width: 2, dash: [6, 4], spanGaps: true },
      ],
      axes: [{ stroke: axisColour() }, { stroke: axisColour(), label: "items" }],
      // The deadline, up and down, where it falls in view.
      hooks: { draw: [(u) => deadline !== null && markLine(u, "x", deadline, ALERT)] },
    },
    [xs, done, forecast],
  );
}

/**
 * The chart in words: what is done, the pace, the finish and the deadline.
 * @param {Burnup} b
 */
export function describe(b) {
  const parts = [`${b.done} of ${b.total} items done${b.sealed ? "" : " (the batch is still open)"}`];
  if (b.per_hour !== null) parts.push(`${b.per_hour} an hour over the last hour`);
  if (b.done >= b.total && b.total > 0) parts.push("all done");
  else if (b.finish_at) parts.push(`done by ${new Date(b.finish_at).toLocaleString()} at that pace`);
  else parts.push("no pace yet to forecast with");
  if (b.deadline) {
    const late = b.finish_at && b.done < b.total && Date.parse(b.finish_at) > Date.parse(b.deadline);
    parts.push(`due ${new Date(b.deadline).toLocaleString()}${late ? ": late at this pace" : ""}`);
  }
  return `${parts.join("; ")}.`;
}

/** A button that opens a batch's burn-up. @param {string} batchId @param {string} name */
export function burnupButton(batchId, name) {
  const open = () => showBurnup(batchId, name).catch((error) => toast(error.message, "error"));
  return el("button", { type: "button", class: "csv", onclick: open }, "Burn-up");
}
