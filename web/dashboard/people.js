// @ts-check
// The dashboard's organisations and people: the operator makes client and vendor
// organisations and invites anyone into them, by name; a vendor admin invites its own
// annotators and reviewers; everyone sees and revokes the tokens it may (GET /v1/tokens).
import { api, byId as $, clear, el, services, toast } from "/ui/common/common.js";
import { act } from "./act.js";

/** @typedef {import("/ui/common/common.js").Claims} Claims */
/**
 * @typedef {{ id: string, subject: string, role: string, org_id: string, issued_at: string,
 *   expires_at: string, revoked_at: string | null }} TokenInfo
 * @typedef {{ id: string, name: string, kind: "client" | "vendor", created_at: string }} Org
 */

// The roles each inviter may give: a vendor admin its own people; the operator anyone.
const ROLES = {
  operator: ["annotator", "reviewer", "vendor_admin", "client"],
  vendor_admin: ["annotator", "reviewer"],
};

export class People {
  /** @param {Claims} me */
  constructor(me) {
    this.me = me;
    /** @type {Map<string, Org>} the operator's view of every organisation */
    this.orgs = new Map();
    const operator = me.role === "operator";
    const roles = /** @type {Record<string, string[]>} */ (ROLES)[me.role] ?? [];
    $("orgs").hidden = !operator;
    $("invite-form").hidden = !roles.length;
    $("invite-org-box").hidden = !operator;
    clear($("invite-role"), roles.map((r) => el("option", { value: r }, r.replace("_", " "))));
    $("invite-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.invite().catch((error) => toast(error.message, "error"));
    });
    $("org-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.createOrg().catch((error) => toast(error.message, "error"));
    });
  }

  async show() {
    if (this.me.role === "operator") await this.showOrgs();
    await this.showTokens();
  }

  async showOrgs() {
    const orgs = /** @type {Org[]} */ (await api("ingest", "GET", "/v1/orgs"));
    this.orgs = new Map(orgs.map((o) => [o.id, o]));
    const sorted = [...orgs].sort((a, b) => a.name.localeCompare(b.name));
    clear(
      $("org-list", HTMLTableElement).tBodies[0],
      sorted.map((o) => el("tr", {}, el("td", { title: o.id }, o.name), el("td", {}, o.kind), el("td", {}, new Date(o.created_at).toLocaleDateString()))),
    );
    const choice = $("invite-org", HTMLSelectElement);
    const chosen = choice.value;
    clear(choice, sorted.map((o) => el("option", { value: o.id, title: o.id, selected: o.id === chosen }, `${o.name} (${o.kind})`)));
  }

  async createOrg() {
    const name = $("org-name", HTMLInputElement).value.trim();
    const kind = $("org-kind", HTMLSelectElement).value;
    await act(() => api("ingest", "POST", "/v1/orgs", { name, kind }), `${name} created`, () => this.showOrgs());
    /** @type {HTMLFormElement} */ ($("org-form")).reset();
  }

  async showTokens() {
    const tokens = /** @type {TokenInfo[]} */ (await api("ingest", "GET", "/v1/tokens", undefined, { limit: 200 }));
    clear(
      $("tokens", HTMLTableElement).tBodies[0],
      tokens.map((t) =>
        el(
          "tr",
          { dataset: { token: t.id } },
          el("td", { title: t.org_id }, t.subject, this.orgs.has(t.org_id) ? el("div", { class: "muted" }, this.orgs.get(t.org_id)?.name ?? "") : null),
          el("td", {}, t.role.replace("_", " ")),
          el("td", {}, new Date(t.issued_at).toLocaleDateString()),
          el("td", {}, new Date(t.expires_at).toLocaleDateString()),
          el("td", { class: t.revoked_at ? "error" : "ok" }, t.revoked_at ? "revoked" : "active"),
          el("td", {}, t.revoked_at ? "" : el("button", { type: "button", class: "danger", onclick: () => this.revoke(t) }, "Revoke")),
        ),
      ),
    );
  }

  /** @param {TokenInfo} t */
  async revoke(t) {
    await act(() => api("ingest", "DELETE", `/v1/tokens/${t.id}`), `${t.subject}'s token revoked`, () => this.showTokens());
  }

  /** A token for a new person, shown once with the page they open. */
  async invite() {
    const subject = $("invite-name", HTMLInputElement).value.trim();
    const role = $("invite-role", HTMLSelectElement).value;
    const org = this.me.role === "operator" ? $("invite-org", HTMLSelectElement).value : this.me.org;
    const issued = /** @type {{ token: string }} */ (await api("ingest", "POST", "/v1/tokens", { org_id: org, role, subject }));
    const urls = await services();
    const pages = { reviewer: `${urls.review}/ui/review.html`, annotator: `${urls.dispatch}/ui/label.html` };
    const page = /** @type {Record<string, string>} */ (pages)[role] ?? `${urls.export}/ui/dashboard.html`;
    $("invited-name").textContent = subject;
    $("invited-token", HTMLTextAreaElement).value = issued.token;
    const link = $("invited-page", HTMLAnchorElement);
    link.href = page;
    link.textContent = page;
    $("invited").hidden = false;
    await this.showTokens();
  }
}
