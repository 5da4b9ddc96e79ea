// @ts-check
// What every chart of the dashboard does around uPlot: drawn in its box as wide as the box,
// the box's previous chart taken down first (a redraw replaces, never piles up), and a line
// across the plot that marks a date (up and down) or a level (across): a deadline, a minimum
// wage, a limit.
import uPlot from "/ui/common/uplot/uPlot.esm.js";
import { clear } from "/ui/common/common.js";

/** @type {WeakMap<HTMLElement, uPlot>} each box's chart */
const charts = new WeakMap();

/**
 * Take down the box's chart, if it has one, and empty the box.
 * @param {HTMLElement} target
 */
export function clearChart(target) {
  charts.get(target)?.destroy();
  charts.delete(target);
  clear(target);
}

/**
 * Draw a chart in `target`, replacing the one there, as wide as the box (320 px at least).
 * @param {HTMLElement} target
 * @param {Omit<uPlot.Options, "width">} options
 * @param {uPlot.AlignedData} data
 * @returns {uPlot}
 */
export function drawChart(target, options, data) {
  clearChart(target);
  const chart = new uPlot({ ...options, width: Math.max(320, target.clientWidth || 640) }, data, target);
  charts.set(target, chart);
  return chart;
}

/**
 * A line at `value` of the `scale` ("x": up and down at a date; "y": across at a level), in
 * `colour`, dashed or not; nothing where the value is outside the scale's range.
 * @param {uPlot} u
 * @param {"x" | "y"} scale
 * @param {number} value
 * @param {string} colour
 * @param {boolean} [dashed]
 */
export function markLine(u, scale, value, colour, dashed = false) {
  const { min, max } = u.scales[scale];
  if (min === undefined || max === undefined || value < min || value > max) return;
  const at = u.valToPos(value, scale, true);
  const { left, top, width, height } = u.bbox;
  u.ctx.save();
  u.ctx.strokeStyle = colour;
  u.ctx.lineWidth = 2;
  u.ctx.setLineDash(dashed ? [6, 4] : []);
  u.ctx.beginPath();
  if (scale === "x") {
    u.ctx.moveTo(at, top);
    u.ctx.lineTo(at, top + height);
  } else {
    u.ctx.moveTo(left, at);
    u.ctx.lineTo(left + width, at);
  }
  u.ctx.stroke();
  u.ctx.restore();
}
