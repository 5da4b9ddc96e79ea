// @ts-check
// The operator's charts of the platform over time: every service's per-minute figures
// (GET /v1/rollups, kept in each service's own database, shared/rollups.py): the pipeline's
// throughput, a line a stage (ingested, labeled, rejected, accepted, delivered), then six
// charts a line a service: events handled, request latency p50 and p99, messages waiting, how
// far behind consumers run (the oldest event handled), and dead letters with the outbox backlog. Each chart is said in a sentence too (the last minute and the
// peak), for those who do not see it. Drawn with uPlot (web/common/uplot/, vendored: MIT).
import { api, byId as $, clear, el } from "/ui/common/common.js";
import { SERIES, axisColour } from "/ui/common/palette.js";
import { drawChart } from "./plot.js";

/**
 * @typedef {{ minute: string, events: number, failed: number, requests: number, p50_ms: number | null,
 *   p99_ms: number | null, queue: number | null, dead_letters: number | null, outbox: number | null,
 *   oldest_event_s?: number | null, stages?: Record<string, number> }} Minute
 */

const STAGES = ["ingested", "labeled", "rejected", "accepted", "delivered"];

const SERVICES = ["ingest", "dispatch", "review", "export", "assist"];
/** What each chart draws: its title, its unit, and a minute's value. */
const CHARTS = [
  { id: "events", title: "events handled", unit: "", value: (/** @type {Minute} */ m) => m.events },
  { id: "median", title: "request latency p50 (ms)", unit: " ms", value: (/** @type {Minute} */ m) => m.p50_ms },
  { id: "latency", title: "request latency p99 (ms)", unit: " ms", value: (/** @type {Minute} */ m) => m.p99_ms },
  { id: "queue", title: "messages waiting", unit: "", value: (/** @type {Minute} */ m) => m.queue },
  { id: "behind", title: "oldest event handled (s since it happened)", unit: " s", value: (/** @type {Minute} */ m) => m.oldest_event_s ?? null },
  { id: "stuck", title: "dead letters + outbox backlog", unit: "", value: (/** @type {Minute} */ m) => (m.dead_letters ?? 0) + (m.outbox ?? 0) },
];
/** @type {ReturnType<typeof drawChart>[]} */
let drawn = [];

/**
 * Minutes a point, by the hours shown: up to 3 hours a minute, up to two days by 5, longer by
 * 15 (a week is 672 points, not 10,080).
 * @param {number} hours
 */
const stepFor = (hours) => (hours <= 3 ? 1 : hours <= 48 ? 5 : 15);
/** The rollups are kept 8 days: no range reaches further back. */
const KEPT_MS = 8 * 24 * 3600 * 1000;

/**
 * The range shown, in ms since the epoch: the last hour, day or week, or the one chosen
 * (`custom`: from and to, in the browser's time zone).
 * @returns {{ from: number, to: number } | null} null: a custom range not (yet) right
 */
function chosenRange() {
  const choice = $("range", HTMLSelectElement).value;
  $("range-custom").hidden = choice !== "custom";
  const now = Date.now();
  if (choice !== "custom") return { from: now - Number(choice) * 3600 * 1000, to: now };
  const from = Date.parse($("range-start", HTMLInputElement).value);
  const to = Date.parse($("range-end", HTMLInputElement).value);
  const right = Number.isFinite(from) && Number.isFinite(to) && from < to && from >= now - KEPT_MS;
  $("range-error").textContent = right ? "" : "Choose a start before the end, within the last 8 days.";
  return right ? { from, to: Math.min(to, now) } : null;
}

export async function showPlatformCharts() {
  const range = chosenRange();
  if (range === null) return;
  const hours = (range.to - range.from) / 3600 / 1000;
  const step = stepFor(hours);
  const until = range.to;
  const since = new Date(range.from).toISOString();
  const query = { since, until: new Date(until).toISOString(), step: String(step) };
  const answers = await Promise.all(
    SERVICES.map((s) => /** @type {Promise<{ minutes: Minute[] }>} */ (api(s, "GET", "/v1/rollups", undefined, query)).catch(() => ({ minutes: [] }))),
  );
  // One x for all: every point of the range, so that a quiet span is a gap, not a slope.
  const span = step * 60;
  const first = Math.floor(range.from / 1000 / span) * span;
  const xs = Array.from({ length: Math.floor((hours * 60) / step) + 1 }, (_, i) => first + i * span);
  const index = new Map(xs.map((x, i) => [x, i]));
  for (const c of drawn) c.destroy();
  drawn = [];
  const box = $("charts");
  clear(box);
  // The pipeline: each stage counted where it is published, summed over the services.
  const stages = STAGES.map((stage) => {
    /** @type {(number | null)[]} */
    const values = xs.map(() => null);
    for (const a of answers) {
      for (const m of a.minutes) {
        const i = index.get(Date.parse(m.minute) / 1000);
        if (i !== undefined) values[i] = (values[i] ?? 0) + (m.stages?.[stage] ?? 0);
      }
    }
    return values;
  });
  const per = step === 1 ? "a minute" : `${step} minutes`;
  plot(box, { id: "stages", title: `throughput per stage, ${per}`, unit: "" }, STAGES, xs, stages);
  for (const chart of CHARTS) {
    const series = answers.map((a) => {
      /** @type {(number | null)[]} */
      const values = xs.map(() => null);
      for (const m of a.minutes) {
        const i = index.get(Date.parse(m.minute) / 1000);
        if (i !== undefined) values[i] = chart.value(m);
      }
      return values;
    });
    plot(box, chart.id === "events" ? { ...chart, title: `${chart.title}, ${per}` } : chart, SERVICES, xs, series);
  }
}

/**
 * One chart under its title and its sentence: a line a name.
 * @param {HTMLElement} box
 * @param {{ id: string, title: string, unit: string }} chart
 * @param {string[]} names
 * @param {number[]} xs
 * @param {(number | null)[][]} series a name's values, by minute
 */
function plot(box, chart, names, xs, series) {
  const target = el("div", { class: "chart", "aria-hidden": "true" });
  box.append(el("h3", {}, chart.title), el("p", { class: "muted", role: "status", dataset: { chart: chart.id } }, describe(names, series, chart.unit)), target);
  drawn.push(
    drawChart(
      target,
      {
        height: 160,
        series: [{}, ...names.map((s, i) => ({ label: s, stroke: SERIES[i % SERIES.length], width: 1.5 }))],
        axes: [{ stroke: axisColour() }, { stroke: axisColour() }],
        scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
      },
      [xs, ...series],
    ),
  );
}

/**
 * The chart in words: each line's last value and its peak over the range.
 * @param {string[]} names the lines'
 * @param {(number | null)[][]} series a line's values, by minute
 * @param {string} unit
 */
function describe(names, series, unit) {
  const said = names.map((s, i) => {
    const values = series[i].filter((v) => v !== null);
    if (!values.length) return null;
    return `${s} ${values[values.length - 1]}${unit} (peak ${Math.max(...values)}${unit})`;
  }).filter(Boolean);
  return said.length ? `Last minute with figures: ${said.join(", ")}.` : "No figures in this range yet.";
}
