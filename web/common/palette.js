// @ts-check
// The charts' colours, one list for every chart: each line, bar or mark stands out at 3:1 or
// more against the pages' backgrounds in both themes (WCAG 1.4.11, non-text contrast;
// tests/unit/test_web.py checks it against style.css). Axes and their words take the theme's
// muted text colour, which passes 4.5:1 as text.

/** A line each: blue, amber, green, pink, violet, teal. */
export const SERIES = ["#1f8fd6", "#b45309", "#0f9960", "#db2777", "#8b5cf6", "#0e7490"];
/** A limit or a deadline drawn across a chart. */
export const ALERT = "#dc2626";

/** The theme's muted text colour, for axes (read when a chart is drawn: the theme may change). */
export function axisColour() {
  return getComputedStyle(document.documentElement).getPropertyValue("--muted").trim() || "gray";
}
