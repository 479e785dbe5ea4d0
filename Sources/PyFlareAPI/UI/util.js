// Small helpers shared by every view: DOM building, the API client, formatting, the URL state.

/** Builds an element: h("td", {class: "num"}, "12"). Strings become text nodes (never HTML). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

/** Replaces an element's children, skipping null/false like h() (DOM's replaceChildren would print "null"). */
export function setChildren(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** An API failure, with the server's code, message and (for SQL) position. */
export class APIError extends Error {
  constructor(status, body) {
    const error = body && body.error ? body.error : { code: "http_" + status, message: `HTTP ${status}` };
    super(error.message);
    this.status = status;
    this.code = error.code;
    this.position = error.position;
    this.field = error.field;
  }
}

/**
 * A number whose JSON text says more than a JavaScript number keeps: a double with an
 * integral value (`1.0`, an OTLP double) or an integer beyond 2^53 (an int64). Arithmetic
 * sees the number; the text and the type are what the span panel shows.
 */
export class ExactNumber {
  constructor(value, source, type) { this.value = value; this.source = source; this.type = type; }
  valueOf() { return this.value; }
  toString() { return this.source; }
  toJSON() { return this.value; }
}

// JSON.parse's reviver sees each number's source text (Chromium 114+); elsewhere numbers stay plain.
function reviveExactNumbers(_key, value, context) {
  if (typeof value !== "number" || !context || typeof context.source !== "string") return value;
  if (/[.eE]/.test(context.source)) return Number.isInteger(value) ? new ExactNumber(value, context.source, "double") : value;
  return Number.isSafeInteger(value) ? value : new ExactNumber(value, context.source, "int");
}

/** JSON text of a value, ExactNumbers written as they were sent. */
export function exactJSON(value, indent = 0, depth = 0) {
  if (value instanceof ExactNumber) return value.source;
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  const pad = indent ? "\n" + " ".repeat(indent * (depth + 1)) : "";
  const end = indent ? "\n" + " ".repeat(indent * depth) : "";
  const sep = indent ? ": " : ":";
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    return "[" + value.map((v) => pad + exactJSON(v, indent, depth + 1)).join(",") + end + "]";
  }
  const keys = Object.keys(value);
  if (!keys.length) return "{}";
  return "{" + keys.map((k) => pad + JSON.stringify(k) + sep + exactJSON(value[k], indent, depth + 1)).join(",") + end + "}";
}

/**
 * GET (or POST with a JSON body) against the API; resolves to the parsed answer. With
 * `exact`, numbers JavaScript would round or retype come back as ExactNumber.
 */
export async function api(path, { body, signal, exact = false, method } = {}) {
  for (;;) {
    const init = { signal, headers: { Accept: "application/json", ...session.headers() } };
    if (method) init.method = method;
    if (body !== undefined) {
      init.method = method || "POST";
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    const text = await response.text();
    let parsed = null;
    try { parsed = text ? JSON.parse(text, exact ? reviveExactNumbers : undefined) : null; } catch { parsed = null; }
    // A server with keys on: ask for one, then send the request again with it.
    if (response.status === 401 && !signal?.aborted) {
      await session.askForKey(parsed?.error?.message);
      continue;
    }
    if (!response.ok) throw new APIError(response.status, parsed);
    return parsed;
  }
}

/**
 * The API key and project of this browser tab. The key is kept in sessionStorage: it lives as
 * long as the tab, is never written to a cookie (so no other site's page can make the browser
 * send it) and never appears in a URL.
 */
export const session = {
  get key() { return sessionStorage.getItem("pyflare.key") || ""; },
  get project() { return sessionStorage.getItem("pyflare.project") || ""; },
  setProject(name) {
    if (name) sessionStorage.setItem("pyflare.project", name); else sessionStorage.removeItem("pyflare.project");
  },
  signOut() { sessionStorage.removeItem("pyflare.key"); sessionStorage.removeItem("pyflare.project"); },
  headers() {
    const headers = {};
    if (this.key) headers["x-api-key"] = this.key;
    if (this.project) headers["X-PyFlare-Project"] = this.project;
    return headers;
  },
  pending: null,
  /** Shows the key form (once, however many requests wait) and resolves when a key is entered. */
  askForKey(reason) {
    if (!this.pending) {
      this.pending = new Promise((resolve) => {
        const input = h("input", { type: "password", id: "api-key", autocomplete: "off", spellcheck: "false", placeholder: "pfk_…", "aria-label": "API key" });
        const form = h("form", { class: "key-form" },
          h("h2", {}, "Sign in with an API key"),
          h("p", { class: "muted" }, this.key ? "That key was not accepted" + (reason ? `: ${reason}` : ".") :
            "This server asks for a key. A read key shows one project; an admin key of all projects shows every project."),
          input,
          h("button", { type: "submit", class: "primary" }, "Sign in"));
        const overlay = h("div", { class: "overlay", role: "dialog", "aria-modal": "true" }, form);
        form.addEventListener("submit", (event) => {
          event.preventDefault();
          const key = input.value.trim();
          if (!key) return;
          sessionStorage.setItem("pyflare.key", key);
          overlay.remove();
          this.pending = null;
          document.dispatchEvent(new CustomEvent("pyflare:signed-in"));
          resolve();
        });
        document.body.append(overlay);
        input.focus();
      });
    }
    return this.pending;
  },
};

// ---- formatting ----

const integer = new Intl.NumberFormat("en-US");
export const fmtInt = (n) => (n === null || n === undefined ? "—" : integer.format(n));

/** Microdollars as dollars: small amounts keep their significant digits. */
export function fmtCost(micros) {
  if (micros === null || micros === undefined) return "—";
  const dollars = micros / 1e6;
  if (dollars === 0) return "$0";
  if (Math.abs(dollars) >= 1) return "$" + dollars.toFixed(2);
  if (Math.abs(dollars) >= 0.01) return "$" + dollars.toFixed(4);
  return "$" + dollars.toFixed(6);
}

export function fmtDurationMs(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1) return (ms * 1000).toFixed(ms < 0.01 ? 2 : 0) + " µs";
  if (ms < 1000) return (ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0)) + " ms";
  if (ms < 60_000) return (ms / 1000).toFixed(2) + " s";
  const minutes = Math.floor(ms / 60_000);
  return `${minutes}m ${((ms % 60_000) / 1000).toFixed(0)}s`;
}
export const fmtDurationNs = (ns) => fmtDurationMs(ns / 1e6);

const pad = (n, width = 2) => String(n).padStart(width, "0");
/** Local time with milliseconds, the date only when it is not today. */
export function fmtTime(unixNanos) {
  const date = new Date(unixNanos / 1e6);
  const today = new Date();
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
  if (date.toDateString() === today.toDateString()) return time;
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${time}`;
}

export const SPAN_KINDS = ["unspecified", "internal", "server", "client", "producer", "consumer"];

// ---- URL state: #/<view>[/<id>][?query] ----

export function currentRoute() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = hash.split("?");
  const [view, ...rest] = path.split("/");
  return { view: view || "traces", id: rest.length ? decodeURIComponent(rest.join("/")) : null, params: new URLSearchParams(query) };
}

/** Moves to a view's state; a new history entry unless `replace`, so Back returns to the last one. */
export function navigate(view, id, params, { replace = false } = {}) {
  const query = params ? cleanParams(params).toString() : "";
  const hash = "#/" + view + (id ? "/" + encodeURIComponent(id) : "") + (query ? "?" + query : "");
  if (hash === location.hash) return;
  if (replace) {
    history.replaceState(null, "", hash);
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  } else {
    location.hash = hash;
  }
}

function cleanParams(params) {
  const out = new URLSearchParams();
  for (const [key, value] of params instanceof URLSearchParams ? params.entries() : Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") out.set(key, value);
  }
  return out;
}

export function traceLink(traceID, spanID) {
  return "#/trace/" + traceID + (spanID ? "?span=" + spanID : "");
}

/** Saves text as a file through the browser's download. */
export function download(filename, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = h("a", { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function errorBox(error) {
  return h("div", { class: "error-box", "data-testid": "error" },
    h("strong", {}, error.code ? error.code : "error"), " ", error.message);
}
