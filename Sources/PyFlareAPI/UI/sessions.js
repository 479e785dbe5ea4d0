// Sessions and users: the lists of GET /api/v1/sessions and /api/v1/users (figures from the
// hourly jobs, filters and paging in the URL), a session as one conversation across its turns
// (each turn's traces read from the store, linked), and a user with their sessions.
import { setChildren, api, h, fmtCost, fmtInt, fmtTime, navigate, traceLink, errorBox } from "./util.js";
import { RANGES, sinceOf } from "./traces.js";
import { extractConversation, renderConversation } from "./conversation.js";

const sessionLink = (id) => "#/session/" + encodeURIComponent(id);
const userLink = (id) => "#/user/" + encodeURIComponent(id);

/** The figures every session and user row shows, as cells. */
function figureCells(row) {
  return [
    h("td", { class: "num", "data-col": "spans" }, fmtInt(row.spans)),
    h("td", { class: "num" }, fmtInt(row.llm_calls)),
    h("td", { class: "num", title: `input ${row.input_tokens} · output ${row.output_tokens}` }, fmtInt(row.input_tokens + row.output_tokens)),
    h("td", { class: "num", "data-col": "cost", title: row.unpriced_calls ? `${row.unpriced_calls} call(s) without a price` : "" },
      fmtCost(row.cost_micros), row.unpriced_calls ? "*" : ""),
    h("td", { class: "num" + (row.errors ? " error-text" : "") }, row.errors ? fmtInt(row.errors) : ""),
    h("td", { class: "mono nowrap" }, fmtTime(row.first_seen_unix_nano)),
    h("td", { class: "mono nowrap" }, fmtTime(row.last_seen_unix_nano)),
  ];
}
const FIGURE_HEADS = () => [h("th", { class: "num" }, "Spans"), h("th", { class: "num" }, "LLM calls"), h("th", { class: "num" }, "Tokens"),
  h("th", { class: "num" }, "Cost"), h("th", { class: "num" }, "Errors"), h("th", {}, "First seen"), h("th", {}, "Last seen")];

function sessionRow(s) {
  return h("tr", { "data-session-id": s.session_id, class: s.errors ? "has-error" : "" },
    h("td", { class: "name" }, h("a", { href: sessionLink(s.session_id) }, s.session_id)),
    h("td", {}, s.user ? h("a", { href: userLink(s.user) }, s.user) : h("span", { class: "muted" }, "—")),
    h("td", { class: "num", "data-col": "turns" }, fmtInt(s.turns)),
    ...figureCells(s));
}
const SESSION_HEADS = () => h("thead", {}, h("tr", {}, h("th", {}, "Session"), h("th", {}, "User"), h("th", { class: "num" }, "Turns"), ...FIGURE_HEADS()));

/** A list view of `kind` ("sessions" or "users"): filters, the table, and paging by cursor. */
class ListView {
  constructor(root, kind) {
    this.root = root;
    this.kind = kind;
  }

  mount(_id, params) {
    this.params = params;
    this.inputs = {};
    const form = h("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); this.apply(); } });
    if (this.kind === "sessions") {
      this.inputs.user = h("input", { name: "user", placeholder: "User", value: params.get("user") || "", spellcheck: "false" });
      form.append(h("label", {}, h("span", {}, "User"), this.inputs.user));
    }
    const ranges = RANGES.filter(([v]) => v); // the lists cover a range; 7 days unless told
    this.inputs.range = h("select", { name: "range", onchange: () => this.apply() },
      ranges.map(([v, t]) => h("option", { value: v, selected: (params.get("range") || "7d") === v }, t)));
    form.append(h("label", {}, h("span", {}, "Time"), this.inputs.range), h("button", { type: "submit", class: "primary" }, "Apply"));
    this.status = h("span", { class: "muted", "data-testid": `${this.kind}-status` });
    this.tbody = h("tbody");
    this.pager = h("div", { class: "pager" });
    const head = this.kind === "sessions" ? SESSION_HEADS()
      : h("thead", {}, h("tr", {}, h("th", {}, "User"), h("th", { class: "num" }, "Requests"), h("th", { class: "num" }, "Sessions"), ...FIGURE_HEADS()));
    this.root.append(h("div", { class: "page-head" }, h("h1", {}, this.kind === "sessions" ? "Sessions" : "Users"), h("span", { class: "spacer" }), this.status),
      form, h("div", { class: "table-wrap" }, h("table", { class: "grid", "data-testid": `${this.kind}-table` }, head, this.tbody)), this.pager);
    this.load();
  }

  unmount() {}

  apply() {
    const next = {};
    for (const [name, el] of Object.entries(this.inputs)) next[name] = el.value.trim();
    navigate(this.kind, null, next);
  }

  async load() {
    const q = new URLSearchParams({ limit: "100" });
    for (const name of ["user", "cursor"]) if (this.params.get(name)) q.set(name, this.params.get(name));
    q.set("since", sinceOf(this.params.get("range") || "7d"));
    try {
      const answer = await api(`/api/v1/${this.kind}?` + q);
      const rows = this.kind === "sessions" ? answer.sessions.map(sessionRow) : answer.users.map((u) => h("tr", { "data-user-id": u.user },
        h("td", { class: "name" }, h("a", { href: userLink(u.user) }, u.user)),
        h("td", { class: "num", "data-col": "requests" }, fmtInt(u.requests)),
        h("td", { class: "num", "data-col": "sessions" }, fmtInt(u.sessions)),
        ...figureCells(u)));
      if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: "10", class: "empty" },
        this.kind === "sessions" ? "No sessions in this range. Spans name their session with session.id." : "No users in this range. Spans name their user with user.id.")));
      setChildren(this.tbody, ...rows);
      this.status.textContent = answer.materialized_at ? "figures as of " + fmtTime(Date.parse(answer.materialized_at) * 1e6) : "figures not computed yet";
      const withCursor = (value) => { const p = new URLSearchParams(this.params); if (value) p.set("cursor", value); else p.delete("cursor"); return p; };
      setChildren(this.pager,
        this.params.get("cursor") ? h("button", { onclick: () => navigate(this.kind, null, withCursor(null)) }, "⇤ Most recent") : null,
        answer.next_cursor ? h("button", { "data-testid": "older", onclick: () => navigate(this.kind, null, withCursor(answer.next_cursor)) }, "Earlier →") : null);
    } catch (error) {
      setChildren(this.tbody, h("tr", {}, h("td", { colspan: "10" }, errorBox(error))));
    }
  }
}

export class SessionsView extends ListView {
  constructor(root) { super(root, "sessions"); }
}

export class UsersView extends ListView {
  constructor(root) { super(root, "users"); }
}

/** Figures of a session or user as a row of labelled values, like the trace view's. */
function stats(pairs) {
  return h("div", { class: "stats" }, pairs.map(([label, value, testid]) =>
    h("div", { class: "stat" }, h("span", { class: "label" }, label), h("span", { class: "value", ...(testid ? { "data-testid": testid } : {}) }, value))));
}

/**
 * One session: its figures, then its turns in order, each the conversation of its LLM calls
 * (messages a later call resends are shown once) with a link to its trace.
 */
export class SessionView {
  constructor(root) { this.root = root; this.abort = null; }

  mount(id) {
    this.id = id;
    this.head = h("div");
    this.turns = h("div", { class: "turns", "data-testid": "turns" });
    this.root.append(h("div", { class: "page-head" }, h("a", { href: "#/sessions", class: "muted" }, "← Sessions"),
      h("h1", { class: "mono" }, id)), this.head, this.turns);
    this.load();
  }

  unmount() { if (this.abort) this.abort.abort(); }

  async load() {
    this.abort = new AbortController();
    const signal = this.abort.signal;
    let session;
    try {
      session = await api(`/api/v1/sessions/${encodeURIComponent(this.id)}`, { signal });
    } catch (error) {
      if (error.name !== "AbortError") setChildren(this.head, errorBox(error));
      return;
    }
    const traces = session.traces;
    setChildren(this.head, stats([
      ["User", session.user ? h("a", { href: userLink(session.user) }, session.user) : "—"],
      ["Turns", fmtInt(traces.length), "turn-count"],
      ["Spans", fmtInt(session.spans ?? traces.reduce((n, t) => n + t.span_count, 0))],
      ["Tokens", fmtInt(traces.reduce((n, t) => n + t.total_tokens, 0))],
      ["Cost", fmtCost(traces.reduce((n, t) => n + (t.cost_micros || 0), 0)), "session-cost"],
      ["Errors", fmtInt(traces.reduce((n, t) => n + t.error_count, 0))],
      ["First seen", traces.length ? fmtTime(traces[0].start_time_unix_nano) : "—"],
      ["Last seen", traces.length ? fmtTime(traces[traces.length - 1].start_time_unix_nano) : "—"],
    ]), session.traces_truncated ? h("p", { class: "muted" }, "Only the newest 1,000 turns are shown.") : null);
    const seen = new Set();
    const cards = traces.map((t, index) => {
      const body = h("div", { class: "turn-body" }, h("span", { class: "muted" }, "Loading…"));
      const card = h("section", { class: "turn" + (t.error_count ? " has-error" : ""), "data-trace-id": t.trace_id },
        h("div", { class: "turn-head" }, h("b", {}, `Turn ${index + 1}`), h("a", { href: traceLink(t.trace_id) }, t.root_name || t.trace_id.slice(0, 16)),
          h("span", { class: "muted mono" }, fmtTime(t.start_time_unix_nano)), h("span", { class: "spacer" }),
          h("span", { class: "muted" }, `${fmtInt(t.span_count)} spans · ${fmtInt(t.total_tokens)} tokens · ${fmtCost(t.cost_micros)}`),
          t.error_count ? h("span", { class: "error-text" }, ` · ${t.error_count} error${t.error_count === 1 ? "" : "s"}`) : null),
        body);
      return { card, body, trace: t };
    });
    setChildren(this.turns, ...cards.map((c) => c.card));
    if (!cards.length) setChildren(this.turns, h("p", { class: "empty" }, "No turns of this session are stored."));
    // In order, so that a message a later turn resends is kept where it first appeared.
    for (const { body, trace } of cards) {
      if (signal.aborted) return;
      try {
        const doc = await api(`/api/v1/traces/${encodeURIComponent(trace.trace_id)}`, { signal });
        const spans = [...doc.spans].sort((a, b) => (a.start_time_unix_nano < b.start_time_unix_nano ? -1 : 1));
        const messages = [];
        for (const span of spans) {
          const conversation = extractConversation(span.attributes || {});
          if (!conversation) continue;
          for (const message of conversation.messages) {
            const key = JSON.stringify([message.role, message.parts]);
            if (seen.has(key)) continue;
            seen.add(key);
            messages.push(message);
          }
        }
        setChildren(body, messages.length ? renderConversation({ messages, raw: {} }).body
          : h("span", { class: "muted" }, "No messages recorded in this turn's spans."));
      } catch (error) {
        if (error.name === "AbortError") return;
        setChildren(body, errorBox(error));
      }
    }
  }
}

/** One user: their figures over everything, and their sessions of the last 30 days. */
export class UserView {
  constructor(root) { this.root = root; }

  mount(id) {
    this.id = id;
    this.head = h("div");
    this.tbody = h("tbody");
    this.root.append(h("div", { class: "page-head" }, h("a", { href: "#/users", class: "muted" }, "← Users"), h("h1", {}, id)), this.head,
      h("h2", { class: "section-title" }, "Sessions"), h("div", { class: "table-wrap" }, h("table", { class: "grid", "data-testid": "user-sessions" }, SESSION_HEADS(), this.tbody)));
    this.load();
  }

  unmount() {}

  async load() {
    try {
      const user = await api(`/api/v1/users/${encodeURIComponent(this.id)}`);
      setChildren(this.head, stats([
        ["Requests", fmtInt(user.requests), "user-requests"], ["Sessions", fmtInt(user.sessions), "user-sessions-count"], ["LLM calls", fmtInt(user.llm_calls)],
        ["Tokens", fmtInt(user.input_tokens + user.output_tokens)], ["Cost", fmtCost(user.cost_micros), "user-cost"],
        ["Errors", fmtInt(user.errors)], ["First seen", fmtTime(user.first_seen_unix_nano)], ["Last seen", fmtTime(user.last_seen_unix_nano)],
      ]));
      const rows = user.recent_sessions.map(sessionRow);
      if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: "10", class: "empty" }, "No sessions in the last 30 days.")));
      setChildren(this.tbody, ...rows);
    } catch (error) {
      setChildren(this.head, errorBox(error));
    }
  }
}
