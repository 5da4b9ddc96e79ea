// @ts-check
// A vendor admin's minimum wage: the hourly figure set (GET/PUT /v1/vendors/{id}/minimum-wage)
// and the annotators whose pay per hour worked falls below it (wage-alerts), so that a piece
// rate too low for the work shows before payday.
import { api, byId as $, clear, el, toast } from "/ui/common/common.js";

/** @typedef {import("/ui/common/common.js").Claims} Claims */
/** @typedef {{ annotator_id: string, effective_hourly: number, minimum_wage: number, seconds_worked: number }} WageAlert */

/** @param {Claims} me */
export async function showWages(me) {
  const vendor = me.vendor || me.org;
  const [wage, alerts] = /** @type {[{ hourly: number | null }, WageAlert[]]} */ (
    await Promise.all([api("review", "GET", `/v1/vendors/${vendor}/minimum-wage`), api("review", "GET", `/v1/vendors/${vendor}/wage-alerts`)])
  );
  const input = $("wage-hourly", HTMLInputElement);
  if (document.activeElement !== input) input.value = wage.hourly === null ? "" : String(wage.hourly);
  $("wage-none").textContent =
    wage.hourly === null ? "No minimum set yet." : alerts.length ? "" : `Everyone earns at least ${wage.hourly} an hour worked.`;
  $("wage-alerts").hidden = alerts.length === 0;
  clear(
    $("wage-alerts", HTMLTableElement).tBodies[0],
    alerts.map((a) =>
      el("tr", {}, el("td", {}, a.annotator_id), el("td", { class: "error" }, a.effective_hourly.toFixed(2)), el("td", {}, (a.seconds_worked / 3600).toFixed(1))),
    ),
  );
}

/** @param {Claims} me */
export async function setWage(me) {
  const hourly = Number($("wage-hourly", HTMLInputElement).value);
  await api("review", "PUT", `/v1/vendors/${me.vendor || me.org}/minimum-wage`, { hourly });
  toast(`Minimum wage set to ${hourly} an hour`);
  await showWages(me);
}
