// The log records of GET /api/v1/logs, newest first, with its filters in the URL.
import { setChildren, api, h, fmtTime, navigate, traceLink, errorBox } from "./util.js";
import { RANGES, sinceOf } from "./traces.js";
import { severityClass } from "./trace.js";

export class LogsView {
  constructor(root) { this.root = root; }

  mount(_id, params) {
    this.params = params;
    const input = (name, label, attrs = {}) => h("label", {}, h("span", {}, label),
      this.inputs[name] = h("input", { name, placeholder: label, value: params.get(name) || "", spellcheck: "false", ...attrs }));
    this.inputs = {};
    const form = h("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); this.apply(); } },
      input("q", "Text", { class: "wide" }), input("service", "Service"), input("trace_id", "Trace ID", { class: "mono" }),
      h("label", {}, h("span", {}, "Severity"), this.inputs.severity = h("select", { onchange: () => this.apply() },
        [["", "Any"], ["debug", "Debug+"], ["info", "Info+"], ["warn", "Warn+"], ["error", "Error+"], ["fatal", "Fatal"]]
          .map(([v, t]) => h("option", { value: v, selected: (params.get("severity") || "") === v }, t)))),
      h("label", {}, h("span", {}, "Time"), this.inputs.range = h("select", { onchange: () => this.apply() },
        RANGES.map(([v, t]) => h("option", { value: v, selected: (params.get("range") || "") === v }, t)))),
      h("button", { type: "submit", class: "primary" }, "Apply"));
    this.tbody = h("tbody");
    this.pager = h("div", { class: "pager" });
    this.root.append(h("div", { class: "page-head" }, h("h1", {}, "Logs")), form,
      h("div", { class: "table-wrap" }, h("table", { class: "grid", "data-testid": "logs-table" },
        h("thead", {}, h("tr", {}, h("th", { class: "shrink" }, "Time"), h("th", { class: "shrink" }, "Severity"), h("th", { class: "shrink" }, "Service"), h("th", {}, "Body"), h("th", { class: "shrink" }, "Trace"))),
        this.tbody)), this.pager);
    this.load();
  }

  unmount() {}

  apply() {
    const next = {};
    for (const [name, el] of Object.entries(this.inputs)) next[name] = el.value.trim();
    navigate("logs", null, next);
  }

  async load() {
    const q = new URLSearchParams({ limit: "100" });
    for (const name of ["q", "service", "trace_id", "severity", "until", "cursor"]) if (this.params.get(name)) q.set(name, this.params.get(name));
    const since = this.params.get("since") || sinceOf(this.params.get("range"));
    if (since) q.set("since", since);
    try {
      const answer = await api("/api/v1/logs?" + q);
      const rows = answer.logs.map((l) => h("tr", {},
        h("td", { class: "mono nowrap" }, fmtTime(l.time_unix_nano || l.observed_time_unix_nano)),
        h("td", {}, h("span", { class: "sev sev-" + severityClass(l.severity_number) }, l.severity_text || String(l.severity_number || ""))),
        h("td", {}, l.service || ""),
        h("td", { class: "value" }, typeof l.body === "string" ? l.body : JSON.stringify(l.body)),
        h("td", { class: "mono" }, l.trace_id ? h("a", { href: traceLink(l.trace_id, l.span_id || null) }, l.trace_id.slice(0, 16)) : "")));
      if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: "5", class: "empty" }, "No log records match.")));
      setChildren(this.tbody, ...rows);
      const withCursor = (value) => { const p = new URLSearchParams(this.params); if (value) p.set("cursor", value); else p.delete("cursor"); return p; };
      setChildren(this.pager, 
        this.params.get("cursor") ? h("button", { onclick: () => navigate("logs", null, withCursor(null)) }, "⇤ Newest") : null,
        answer.next_cursor ? h("button", { onclick: () => navigate("logs", null, withCursor(answer.next_cursor)) }, "Older →") : null);
    } catch (error) {
      setChildren(this.tbody, h("tr", {}, h("td", { colspan: "5" }, errorBox(error))));
    }
  }
}
