// The traces list: newest first, filtered by the URL's query, paged by cursor, and live —
// polled every 2 s while showing the first page, so a new trace appears without a reload.
import { setChildren, api, h, fmtCost, fmtDurationMs, fmtInt, fmtTime, navigate, traceLink, errorBox } from "./util.js";

const POLL_MS = 2000;
const TEXT_FILTERS = [
  ["service", "Service"], ["model", "Model"], ["user", "User"], ["session", "Session"],
  ["feature", "Feature"], ["environment", "Environment"],
];
/** The query parameters of GET /api/v1/traces the URL carries through. */
const PASSED = ["q", ...TEXT_FILTERS.map(([name]) => name), "status", "min_duration_ms", "min_cost", "until", "cursor"];
export const RANGES = [["", "All time"], ["15m", "Last 15 min"], ["1h", "Last hour"], ["6h", "Last 6 hours"],
  ["24h", "Last 24 hours"], ["7d", "Last 7 days"], ["30d", "Last 30 days"]];
const RANGE_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `since` for a relative range ("15m", "24h"), now-based at each request; null for all time. */
export function sinceOf(range) {
  const match = /^(\d+)([mhd])$/.exec(range || "");
  return match ? new Date(Date.now() - Number(match[1]) * RANGE_MS[match[2]]).toISOString() : null;
}

const pad = (n) => String(n).padStart(2, "0");
/** RFC 3339 (the URL's form) as a datetime-local input's local "YYYY-MM-DDTHH:MM:SS". */
function toLocalInput(text) {
  const date = text ? new Date(text) : null;
  if (!date || isNaN(date)) return "";
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}
function fromLocalInput(value) {
  const date = value ? new Date(value) : null;
  return date && !isNaN(date) ? date.toISOString() : "";
}

/** What a search read: its words, and the blocks its token filters let it skip. */
function searchNote(search) {
  return ` with ${search.words.map((w) => `"${w}"`).join(" and ")} · ${fmtInt(search.spans_matched)} matching span` +
    `${search.spans_matched === 1 ? "" : "s"}, ${fmtInt(search.blocks_read)} block${search.blocks_read === 1 ? "" : "s"} read, ` +
    `${fmtInt(search.blocks_skipped)} skipped by their word filter`;
}

export class TracesView {
  constructor(root) {
    this.root = root;
    this.timer = null;
    this.abort = null;
  }

  mount(_id, params) {
    this.params = params;
    const form = h("form", { class: "filters", "data-testid": "trace-filters", onsubmit: (e) => { e.preventDefault(); this.apply(); } });
    this.inputs = {};
    this.inputs.q = h("input", { name: "q", type: "search", placeholder: "words in prompts, completions, tool calls, errors",
      value: params.get("q") || "", "aria-label": "Search", spellcheck: "false", class: "wide", "data-testid": "trace-search" });
    form.append(h("label", {}, h("span", {}, "Search"), this.inputs.q));
    for (const [name, label] of TEXT_FILTERS) {
      this.inputs[name] = h("input", { name, placeholder: label, value: params.get(name) || "", "aria-label": label, spellcheck: "false" });
      form.append(h("label", {}, h("span", {}, label), this.inputs[name]));
    }
    this.inputs.status = h("select", { name: "status", onchange: () => this.apply() },
      [["", "Any"], ["ok", "OK"], ["error", "Error"]].map(([v, t]) => h("option", { value: v, selected: (params.get("status") || "") === v }, t)));
    form.append(h("label", {}, h("span", {}, "Status"), this.inputs.status));
    this.inputs.min_duration_ms = h("input", { name: "min_duration_ms", type: "number", min: "0", step: "any", placeholder: "ms",
      value: params.get("min_duration_ms") || "", class: "narrow" });
    form.append(h("label", {}, h("span", {}, "Min duration"), this.inputs.min_duration_ms));
    this.inputs.min_cost = h("input", { name: "min_cost", type: "number", min: "0", step: "any", placeholder: "$",
      value: params.get("min_cost") || "", class: "narrow" });
    form.append(h("label", {}, h("span", {}, "Min cost"), this.inputs.min_cost));
    // A relative range ("last hour") or, with "Custom", absolute bounds kept as UTC in the URL.
    const custom = params.get("since") || params.get("until") ? "custom" : params.get("range") || "";
    this.inputs.range = h("select", { name: "range", onchange: () => this.apply() },
      [...RANGES, ["custom", "Custom…"]].map(([v, t]) => h("option", { value: v, selected: custom === v }, t)));
    form.append(h("label", {}, h("span", {}, "Time"), this.inputs.range));
    if (custom === "custom") {
      for (const [name, label] of [["since", "From"], ["until", "To"]]) {
        this.inputs[name] = h("input", { name, type: "datetime-local", step: "1", value: toLocalInput(params.get(name)) });
        form.append(h("label", {}, h("span", {}, label), this.inputs[name]));
      }
    }
    form.append(h("button", { type: "submit", class: "primary" }, "Apply"));
    if ([...params.keys()].length) {
      form.append(h("button", { type: "button", class: "link", onclick: () => navigate("traces", null, {}) }, "Clear"));
    }

    this.status = h("span", { class: "muted", "data-testid": "traces-status" });
    this.live = h("span", { class: "live" });
    this.tbody = h("tbody");
    this.pager = h("div", { class: "pager" });
    this.root.append(
      h("div", { class: "page-head" }, h("h1", {}, "Traces"), this.live, h("span", { class: "spacer" }), this.status),
      form,
      h("div", { class: "table-wrap" }, h("table", { class: "grid", "data-testid": "traces-table" },
        h("thead", {}, h("tr", {},
          h("th", {}, "Root"), h("th", {}, "Trace"), h("th", {}, "Start"), h("th", { class: "num" }, "Duration"),
          h("th", { class: "num" }, "Spans"), h("th", { class: "num" }, "Tokens"), h("th", { class: "num" }, "Cost"),
          h("th", {}, "Models"), h("th", { class: "num" }, "Errors"))),
        this.tbody)),
      this.pager);
    this.load();
    this.visibility = () => { if (!document.hidden && !this.params.get("cursor")) this.load(); };
    document.addEventListener("visibilitychange", this.visibility);
  }

  unmount() {
    clearTimeout(this.timer);
    if (this.abort) this.abort.abort();
    document.removeEventListener("visibilitychange", this.visibility);
  }

  apply() {
    const next = {};
    for (const [name, input] of Object.entries(this.inputs)) next[name] = input.value.trim();
    if (next.range === "custom") {
      next.range = "";
      next.since = fromLocalInput(next.since) || new Date(Date.now() - 3_600_000).toISOString();
      next.until = fromLocalInput(next.until);
    } else {
      next.since = next.until = "";
    }
    navigate("traces", null, next);
  }

  query() {
    const q = new URLSearchParams();
    for (const name of PASSED) {
      if (this.params.get(name)) q.set(name, this.params.get(name));
    }
    const since = this.params.get("since") || sinceOf(this.params.get("range"));
    if (since) q.set("since", since);
    q.set("limit", "50");
    return q;
  }

  async load() {
    clearTimeout(this.timer);
    if (this.abort) this.abort.abort();
    this.abort = new AbortController();
    const atTop = !this.params.get("cursor");
    try {
      const answer = await api("/api/v1/traces?" + this.query(), { signal: this.abort.signal });
      this.render(answer);
      this.status.textContent = `${answer.traces.length} trace${answer.traces.length === 1 ? "" : "s"}` +
        (answer.next_cursor ? " on this page" : "") + (answer.search ? searchNote(answer.search) : "") +
        " · updated " + new Date().toLocaleTimeString([], { hour12: false });
    } catch (error) {
      if (error.name === "AbortError") return;
      setChildren(this.tbody, h("tr", {}, h("td", { colspan: "9" }, errorBox(error))));
    }
    this.live.textContent = atTop ? "● Live" : "";
    this.live.title = atTop ? "refreshed every 2 s" : "";
    if (atTop && !document.hidden) this.timer = setTimeout(() => this.load(), POLL_MS);
  }

  render(answer) {
    // A poll that brings nothing new leaves the rows alone: no flicker, hover and focus kept.
    const signature = JSON.stringify(answer);
    if (signature === this.shown) return;
    this.shown = signature;
    const rows = answer.traces.map((t) => h("tr", { "data-trace-id": t.trace_id, class: t.error_count ? "has-error" : "" },
      h("td", { class: "name" }, h("a", { href: traceLink(t.trace_id) }, t.root_name || "(missing root)"),
        t.root_service ? h("span", { class: "tag" }, t.root_service) : null),
      h("td", { class: "mono muted" }, t.trace_id.slice(0, 16)),
      h("td", { class: "mono nowrap" }, fmtTime(t.start_time_unix_nano)),
      h("td", { class: "num" }, fmtDurationMs(t.duration_ms)),
      h("td", { class: "num", "data-col": "spans" }, fmtInt(t.span_count)),
      h("td", { class: "num", title: `input ${t.input_tokens} · output ${t.output_tokens}` }, t.total_tokens ? fmtInt(t.total_tokens) : "—"),
      h("td", { class: "num", "data-col": "cost", title: t.unpriced_count ? `${t.unpriced_count} span(s) without a price` : "" },
        fmtCost(t.cost_micros), t.unpriced_count ? "*" : ""),
      h("td", {}, t.models.map((m) => h("span", { class: "tag model" }, m))),
      h("td", { class: "num" + (t.error_count ? " error-text" : "") }, t.error_count ? fmtInt(t.error_count) : "")));
    if (!rows.length) {
      rows.push(h("tr", {}, h("td", { colspan: "9", class: "empty" },
        [...this.params.keys()].length ? "No trace matches these filters." : "No traces yet. Send OTLP spans to the receiver (port 4318 or 4317).")));
    }
    setChildren(this.tbody, ...rows);
    // For scripts/bench_ui.py: when the first rows of this load reached the screen.
    if (!this.painted) { this.painted = true; requestAnimationFrame(() => performance.mark("pyflare:traces-painted")); }
    const cursor = this.params.get("cursor");
    const withCursor = (value) => { const p = new URLSearchParams(this.params); if (value) p.set("cursor", value); else p.delete("cursor"); return p; };
    setChildren(this.pager, 
      cursor ? h("button", { onclick: () => navigate("traces", null, withCursor(null)) }, "⇤ Newest") : null,
      answer.next_cursor ? h("button", { "data-testid": "older", onclick: () => navigate("traces", null, withCursor(answer.next_cursor)) }, "Older →") : null);
  }
}
