// @ts-check
// A vendor admin's fair-work card: the minimum hourly wage (GET/PUT
// /v1/vendors/{id}/minimum-wage) and, over the last 30 days, each person's pay per hour worked
// beside how their work was judged (GET /v1/vendors/{id}/fair-work): a table (the numbers) and a
// chart of pay per hour with the minimum as a line (uPlot, vendored), so that a piece rate too
// low for the work shows before payday.
import uPlot from "/ui/common/uplot/uPlot.esm.js";
import { api, byId as $, clear, el, toast } from "/ui/common/common.js";
import { ALERT, SERIES, axisColour } from "/ui/common/palette.js";
import { clearChart, drawChart, markLine } from "./plot.js";

/** @typedef {import("/ui/common/common.js").Claims} Claims */
/**
 * @typedef {{ annotator_id: string, completed: number, hours_worked: number, earnings: number,
 *   effective_hourly: number | null, below_minimum_wage: boolean, rejected: number, appealed: number, overturned: number }} FairWorkRow
 * @typedef {{ vendor_id: string, minimum_wage: number | null, people: FairWorkRow[] }} FairWork
 * @typedef {{ days: { day: string, people: { annotator_id: string, worked_s: number, limit_s: number, breaks?: number }[] }[] }} WorkDays
 */

const PERIOD_DAYS = 30;

/**
 * Whose card: the vendor admin's own vendor, or the one the operator chose.
 * @param {Claims} me
 */
function vendorOf(me) {
  return me.role === "operator" ? fairVendor() : me.vendor || me.org;
}

/** The vendor the operator chose ("" before the list is there). */
export function fairVendor() {
  return $("fair-vendor", HTMLSelectElement).value;
}

/** The operator picks the vendor whose card to show, by name. @param {Claims} me */
export async function chooseFairVendor(me) {
  const vendors = /** @type {{ id: string, name: string }[]} */ (await api("ingest", "GET", "/v1/vendors"));
  const choice = $("fair-vendor", HTMLSelectElement);
  clear(choice, vendors.map((v) => el("option", { value: v.id, title: v.id }, v.name)));
  $("fair-vendor-box").hidden = false;
  choice.addEventListener("change", () => showWages(me).catch((error) => toast(error.message, "error")));
  if (vendors.length) await showWages(me);
}

/** @param {Claims} me */
export async function showWages(me) {
  const vendor = vendorOf(me);
  const since = new Date(Date.now() - PERIOD_DAYS * 24 * 3600 * 1000).toISOString();
  const [card, worked] = /** @type {[FairWork, WorkDays]} */ (
    await Promise.all([
      api("review", "GET", `/v1/vendors/${vendor}/fair-work`, undefined, { since }),
      api("dispatch", "GET", `/v1/vendors/${vendor}/work-days`, undefined, { days: PERIOD_DAYS }),
    ])
  );
  // The operator may have chosen another vendor while this one's answers were on their way.
  if (vendorOf(me) !== vendor) return;
  const days = daysOf(worked);
  const input = $("wage-hourly", HTMLInputElement);
  if (document.activeElement !== input) input.value = card.minimum_wage === null ? "" : String(card.minimum_wage);
  const below = card.people.filter((p) => p.below_minimum_wage).length;
  $("wage-none").textContent =
    card.minimum_wage === null
      ? "No minimum set yet."
      : below
        ? `${below} of ${card.people.length} people earned less than ${card.minimum_wage} an hour worked.`
        : `Everyone earns at least ${card.minimum_wage} an hour worked.`;
  $("fair-work").hidden = card.people.length === 0;
  clear(
    $("fair-work", HTMLTableElement).tBodies[0],
    card.people.map((p) =>
      el(
        "tr",
        { class: p.below_minimum_wage ? "below" : undefined },
        el("td", {}, p.annotator_id),
        el("td", {}, String(p.completed)),
        el("td", {}, p.hours_worked.toFixed(2)),
        el("td", {}, p.earnings.toFixed(2)),
        el("td", { class: p.below_minimum_wage ? "error" : "" }, p.effective_hourly === null ? "–" : p.effective_hourly.toFixed(2)),
        el("td", {}, String(p.rejected)),
        el("td", {}, p.appealed ? `${p.overturned} of ${p.appealed}` : "–"),
        el("td", {}, days.get(p.annotator_id)?.text ?? "–"),
      ),
    ),
  );
  drawPay(card);
  drawUsage(worked);
}

/**
 * Each person's days worked, their longest against its limit and the breaks they took ("5 days;
 * longest 6.2 h of 8 h; 9 breaks").
 * @param {WorkDays} worked
 */
function daysOf(worked) {
  /** @type {Map<string, { days: number, longest: number, limit: number, breaks: number, text: string }>} */
  const by = new Map();
  for (const day of worked.days) {
    for (const p of day.people) {
      const seen = by.get(p.annotator_id) ?? { days: 0, longest: 0, limit: p.limit_s, breaks: 0, text: "" };
      seen.days += 1;
      seen.breaks += p.breaks ?? 0;
      if (p.worked_s >= seen.longest) Object.assign(seen, { longest: p.worked_s, limit: p.limit_s });
      by.set(p.annotator_id, seen);
    }
  }
  for (const seen of by.values()) {
    const hours = (/** @type {number} */ s) => `${(s / 3600).toFixed(1)} h`;
    seen.text = `${seen.days} day${seen.days === 1 ? "" : "s"}; longest ${hours(seen.longest)} of ${hours(seen.limit)}; ${seen.breaks} break${seen.breaks === 1 ? "" : "s"}`;
  }
  return by;
}

/**
 * Work-limit use day by day: the share of their daily limit each person used, the most any
 * one used and the average of those who worked, said in a sentence too.
 * @param {WorkDays} worked
 */
function drawUsage(worked) {
  const target = $("limit-use-chart");
  clearChart(target);
  const days = worked.days.filter((d) => d.people.length);
  const shares = days.map((d) => d.people.map((p) => (p.limit_s ? (100 * p.worked_s) / p.limit_s : 0)));
  const most = shares.map((s) => Math.round(Math.max(...s) * 10) / 10);
  const mean = shares.map((s) => Math.round((s.reduce((a, b) => a + b, 0) / s.length) * 10) / 10);
  $("limit-use").textContent = days.length
    ? `Daily limit used: ${days.map((d, i) => `${d.day} most ${most[i]} %, on average ${mean[i]} %`).join("; ")}.`
    : "No time worked in the last 30 days.";
  if (!days.length) return;
  drawChart(
    target,
    {
      height: 160,
      scales: { y: { range: (_u, _min, max) => [0, Math.max(100, max * 1.1)] } },
      series: [
        {},
        { label: "most used (%)", stroke: SERIES[3], width: 2 },
        { label: "average used (%)", stroke: SERIES[0], width: 2 },
      ],
      axes: [{ stroke: axisColour() }, { stroke: axisColour(), label: "% of the daily limit" }],
      hooks: { draw: [(u) => markLine(u, "y", 100, ALERT, true)] },
    },
    [days.map((d) => Date.parse(`${d.day}T12:00:00Z`) / 1000), most, mean],
  );
}

/** Pay per hour worked, a bar a person, and the minimum as a line. @param {FairWork} card */
function drawPay(card) {
  const target = $("fair-work-chart");
  clearChart(target);
  const paid = card.people.filter((p) => p.effective_hourly !== null);
  if (!paid.length) return;
  const names = paid.map((p) => p.annotator_id);
  const xs = paid.map((_, i) => i);
  const pay = paid.map((p) => /** @type {number} */ (p.effective_hourly));
  const minimum = paid.map(() => card.minimum_wage);
  const top = Math.max(...pay, card.minimum_wage ?? 0) * 1.1;
  drawChart(
    target,
    {
      height: 200,
      scales: { x: { time: false, range: [-0.5, paid.length - 0.5] }, y: { range: [0, top || 1] } },
      series: [
        { label: "person", value: (_, i) => (i === null ? "–" : names[Math.round(i)] ?? "") },
        { label: "per hour worked", stroke: SERIES[0], fill: `${SERIES[0]}55`, paths: uPlot.paths.bars?.({ size: [0.6, 60] }) },
        { label: "minimum wage", stroke: ALERT, width: 2, dash: [6, 4], points: { show: false } },
      ],
      // The minimum across the whole width, whatever the number of people.
      hooks: { draw: [(u) => card.minimum_wage !== null && markLine(u, "y", card.minimum_wage, ALERT, true)] },
      axes: [
        { stroke: axisColour(), splits: () => xs, values: (_, splits) => splits.map((i) => names[i] ?? "") },
        { stroke: axisColour(), label: "per hour" },
      ],
    },
    [xs, pay, minimum],
  );
}

/** @param {Claims} me */
export async function setWage(me) {
  const hourly = Number($("wage-hourly", HTMLInputElement).value);
  await api("review", "PUT", `/v1/vendors/${vendorOf(me)}/minimum-wage`, { hourly });
  toast(`Minimum wage set to ${hourly} an hour`);
  await showWages(me);
}
