// @ts-check
// What every page shares: the worker's token, calls to the services, safe DOM building,
// the theme. Text from other tenants is only ever set as text (never parsed as HTML).

/**
 * What a token says of its holder (`claims`); the services check it, the pages only read it.
 * @typedef {{ sub: string, org: string, role: string, vendor?: string | null, exp: number }} Claims
 */
/**
 * What `el` and `clear` put in an element: nodes, and text (false, null and undefined: nothing).
 * @typedef {Node | string | number | boolean | null | undefined} Child
 */
/**
 * `el`'s attributes: `on<event>` listeners, `dataset` and `style` objects, plain values.
 * @typedef {string | number | boolean | null | undefined | EventListener
 *   | Record<string, string | number> | Partial<CSSStyleDeclaration>} AttributeValue
 */
/**
 * Review's figures by annotator or vendor (GET /v1/scores), which two pages show.
 * @typedef {{ key: string, name?: string | null, vendor_id?: string | null, vendor_name?: string | null, submitted: number, accepted: number, rejected: number, rework: number,
 *   acceptance_rate: number | null, agreement: number | null, gold_accuracy: number | null,
 *   hours_worked: number }} ScoreRow
 * @typedef {{ rows: ScoreRow[] }} Scores
 */

const TOKEN_KEY = "aviary.token";
const THEME_KEY = "aviary.theme";

/** @returns {string | null} */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
}

// The claims of a token are not secret (only its signature is checked by the services).
// Anything else is taken for the operator's key, which the services will judge.
/**
 * @param {string | null} [value]
 * @returns {Claims | null}
 */
export function claims(value = token()) {
  if (!value) return null;
  // A token (a JWT, or an earlier `av1.` one) has three dot-separated parts; the key has none.
  if (value.split(".").length !== 3) return { sub: "operator", org: "platform", role: "operator", exp: 4102444800 };
  try {
    const payload = value.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload));
  } catch {
    return null;
  }
}

/** @type {Record<string, string> | null} */
let config = null;

/**
 * Each service's public URL, by name (from /ui/config.json, asked once).
 * @returns {Promise<Record<string, string>>}
 */
export async function services() {
  if (config === null) {
    const response = await fetch("/ui/config.json");
    /** @type {{ services: Record<string, string> }} */
    const answer = await response.json();
    config = answer.services;
  }
  return config;
}

export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {unknown} body the answer's JSON: `{error: {code, message, details}}` from a service
   */
  constructor(status, body) {
    const answer = /** @type {{ error?: { message?: string, code?: string, details?: unknown } } | null} */ (body);
    /** @type {{ message?: string, code?: string, details?: unknown }} */
    const error = (answer && answer.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "http_error";
    this.details = error.details || null;
    /** @type {string | null} */
    this.retryAfter = null;
  }
}

/**
 * What went wrong, in words for the page: an error's message.
 * @param {unknown} error
 * @returns {string}
 */
export function messageOf(error) {
  return error instanceof Error ? error.message : String(error);
}

// One API call to `service` ("ingest", "dispatch", "review", "export"). The answer is the
// service's JSON (null for 204): callers name its type, as the API's contracts define it.
/**
 * @param {string} service
 * @param {"GET" | "POST" | "PUT" | "DELETE"} method
 * @param {string} path
 * @param {unknown} [body]
 * @param {Record<string, string | number | null | undefined>} [params]
 * @returns {Promise<unknown>}
 */
export async function api(service, method, path, body, params) {
  const base = (await services())[service];
  const url = new URL(base + path);
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
  }
  /** @type {Record<string, string>} */
  const headers = { Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    error.retryAfter = response.headers.get("Retry-After");
    throw error;
  }
  return data;
}

// el("div", {class: "x", onclick: fn, style: {width: "10%"}}, "text", child...): children
// strings become text nodes.
/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, AttributeValue>} [attrs]
 * @param {...(Child | Child[])} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), /** @type {EventListener} */ (value));
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "style") Object.assign(node.style, value); // CSSOM: allowed by the CSP
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/**
 * The header's "who": the person and their organisation by name (ids on hover). Shows the
 * role until ingest answers, and keeps it if it cannot.
 * @param {HTMLElement} node
 * @param {Claims} me
 */
export function showWho(node, me) {
  node.textContent = `${me.sub} · ${me.role.replaceAll("_", " ")}`;
  /** @type {Promise<{ org_name: string | null, vendor_name: string | null }>} */ (api("ingest", "GET", "/v1/me"))
    .then((who) => {
      const org = who.vendor_name || who.org_name;
      if (org) node.textContent = `${me.sub} · ${org}`;
      node.title = [me.role, me.org, me.vendor].filter(Boolean).join(" · ");
    })
    .catch(() => undefined);
}

/**
 * Replace what `node` holds by `children` (null and undefined: nothing).
 * @param {Element} node
 * @param {...(Node | string | null | undefined | (Node | string | null | undefined)[])} children
 */
export function clear(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
}

/**
 * The page's element `id`, which its HTML has, as a `kind` (an HTMLElement unless given): a
 * missing or different element is a bug of the page, named here rather than met later as null.
 * @template {HTMLElement} [T=HTMLElement]
 * @param {string} id
 * @param {{ new (): T, prototype: T }} [kind]
 * @returns {T}
 */
export function byId(id, kind) {
  const node = document.getElementById(id);
  if (!(node instanceof (kind || HTMLElement))) throw new Error(`the page has no ${kind?.name || "element"} #${id}`);
  return /** @type {T} */ (node);
}

/** @param {HTMLElement | null} button */
export function setupTheme(button) {
  /** @param {string} theme */
  const apply = (theme) => {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem(THEME_KEY, theme);
  };
  apply(localStorage.getItem(THEME_KEY) || "dark");
  button?.addEventListener("click", () =>
    apply(document.documentElement.dataset.theme === "dark" ? "light" : "dark"),
  );
}

// Ask for a token until one is given; `roles` are the roles this page is for.
/**
 * @param {HTMLElement} root
 * @param {string[]} roles
 * @param {string} title
 * @returns {Claims | null} the signed-in worker's claims; null while the sign-in form shows
 */
export function requireLogin(root, roles, title) {
  const current = claims();
  if (current && roles.includes(current.role) && current.exp * 1000 > Date.now()) {
    return current;
  }
  const input = el("input", {
    id: "token",
    type: "password",
    autocomplete: "off",
    placeholder: "eyJ…",
    "aria-label": "token",
  });
  const message = el("p", { class: "error", role: "alert" });
  const form = el(
    "form",
    { class: "login", id: "login" },
    el("h1", {}, title),
    el("label", { for: "token" }, "Your access token"),
    input,
    el("button", { type: "submit" }, "Sign in"),
    message,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = input.value.trim();
    const parsed = claims(value);
    if (!parsed || !roles.includes(parsed.role)) {
      message.textContent = `This page is for: ${roles.join(", ")}.`;
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, value);
    location.reload();
  });
  clear(root, form);
  return null;
}

/**
 * A share (0 to 1) as a whole percentage, "–" for none.
 * @param {number | null | undefined} x
 */
export function percent(x) {
  return x === null || x === undefined ? "–" : `${Math.round(x * 100)} %`;
}

/** @param {number} total seconds, shown as m:ss or h:mm:ss */
export function formatSeconds(total) {
  const s = Math.max(0, Math.floor(total));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/**
 * @param {string} text
 * @param {"info" | "ok" | "error"} [kind]
 */
export function toast(text, kind = "info") {
  const box = document.getElementById("toasts") || document.body.appendChild(el("div", { id: "toasts" }));
  const item = el("div", { class: `toast ${kind}`, role: "status" }, text);
  box.append(item);
  setTimeout(() => item.remove(), 6000);
}

/**
 * Everything the platform keeps about the signed-in person (an annotator or a reviewer), from
 * every service's `GET /v1/me/data`, saved as one JSON file.
 */
export async function downloadMyData() {
  const names = Object.keys(await services());
  const answers = /** @type {{ service: string, subject: string, org_id: string, records: unknown }[]} */ (
    await Promise.all(names.map((name) => api(name, "GET", "/v1/me/data")))
  );
  /** @type {Record<string, unknown>} */
  const byService = {};
  for (const answer of answers) byService[answer.service] = answer.records;
  const whole = { subject: answers[0].subject, org_id: answers[0].org_id, generated_at: new Date().toISOString(), services: byService };
  saveFile(`aviary-my-data-${answers[0].subject}.json`, JSON.stringify(whole, null, 2), "application/json");
}

/**
 * Hand the browser a file made on the page, to save.
 * @param {string} name
 * @param {string} text
 * @param {string} type
 */
export function saveFile(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = el("a", { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
