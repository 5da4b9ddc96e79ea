// What every page shares: the worker's token, calls to the services, safe DOM building,
// the theme. Text from other tenants is only ever set as text (never parsed as HTML).

const TOKEN_KEY = "aviary.token";
const THEME_KEY = "aviary.theme";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
}

// The claims of a token are not secret (only its signature is checked by the services).
// Anything else is taken for the operator's key, which the services will judge.
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

let config = null;

export async function services() {
  if (config === null) {
    const response = await fetch("/ui/config.json");
    config = (await response.json()).services;
  }
  return config;
}

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "http_error";
    this.details = error.details || null;
    this.retryAfter = null;
  }
}

// One API call to `service` ("ingest", "dispatch", "review", "export").
export async function api(service, method, path, body, params) {
  const base = (await services())[service];
  const url = new URL(base + path);
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null) url.searchParams.set(key, value);
  }
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
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
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

export function clear(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
}

export function setupTheme(button) {
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

export function formatSeconds(total) {
  const s = Math.max(0, Math.floor(total));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

export function toast(text, kind = "info") {
  const box = document.getElementById("toasts") || document.body.appendChild(el("div", { id: "toasts" }));
  const item = el("div", { class: `toast ${kind}`, role: "status" }, text);
  box.append(item);
  setTimeout(() => item.remove(), 6000);
}
