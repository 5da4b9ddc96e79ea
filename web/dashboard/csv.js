// @ts-check
// Every table of the dashboard downloads as CSV: a "CSV" button after each, which writes what
// the table shows (its header and rows, buttons and inputs left out), ids from the cells'
// titles in a column of their own where a cell shows a name.
import { el, saveFile } from "/ui/common/common.js";

/** @param {string} value */
function field(value) {
  // Quoted where it must be (RFC 4180); a leading = + - @ is prefixed so that a spreadsheet
  // reads text, not a formula.
  const safe = /^[=+\-@]/.test(value) ? `'${value}` : value;
  return /[",\n\r]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

/**
 * What a cell says, its buttons and inputs left out, its parts one space apart.
 * @param {HTMLTableCellElement} cell
 */
function cellText(cell) {
  const copy = /** @type {HTMLElement} */ (cell.cloneNode(true));
  for (const control of copy.querySelectorAll("button, input, select, textarea")) control.remove();
  return [...copy.childNodes].map((n) => (n.textContent ?? "").replace(/\s+/g, " ").trim()).filter(Boolean).join(" ");
}

/**
 * The table as CSV lines: each cell's text, and its `title` (an id behind a name) beside it.
 * @param {HTMLTableElement} table
 */
export function tableCsv(table) {
  const head = [...table.tHead?.rows[0]?.cells ?? []].map((c) => c.textContent?.trim() ?? "");
  const rows = [...table.tBodies[0]?.rows ?? []].map((row) => [...row.cells]);
  const titled = head.map((_, i) => rows.some((cells) => cells[i]?.title));
  const header = head.flatMap((name, i) => (titled[i] ? [name, `${name} id`] : [name]));
  const lines = rows.map((cells) =>
    head.flatMap((_, i) => {
      const cell = cells[i];
      const text = cell ? cellText(cell) : "";
      return titled[i] ? [text, cell?.title ?? ""] : [text];
    }),
  );
  const used = header.map((_, i) => header[i] !== "" || lines.some((line) => line[i] !== ""));
  return [header, ...lines].map((line) => line.filter((_, i) => used[i]).map(field).join(",")).join("\r\n") + "\r\n";
}

/** A "CSV" button after every table with an id (not the forms' editing tables). */
export function addCsvButtons() {
  for (const table of /** @type {NodeListOf<HTMLTableElement>} */ (document.querySelectorAll("table[id]"))) {
    if (table.closest("form")) continue;
    const button = el("button", { type: "button", class: "csv", "aria-label": `download ${table.id} as CSV`, onclick: () => saveFile(`aviary-${table.id}.csv`, tableCsv(table), "text/csv") }, "CSV");
    table.after(button);
  }
}
