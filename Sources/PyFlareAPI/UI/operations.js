// Operations: what ingest and the store are doing now (accepted and refused spans a minute, the
// queue and the unsealed bytes against their bounds, the WAL, the disk), the storage per kind,
// the jobs (run one now, see its runs) and retention: the policy, compaction runs, a dry run's
// report and a real compaction. Refreshed every 5 s while the tab is visible.
import { setChildren, api, h, fmtInt, fmtTime, errorBox } from "./util.js";
import { timeChart } from "./chart.js";

const POLL_MS = 5000;
const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
export function fmtBytes(n) {
  if (n === null || n === undefined) return "—";
  let v = Number(n), unit = 0;
  while (Math.abs(v) >= 1024 && unit < UNITS.length - 1) { v /= 1024; unit++; }
  return unit === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${UNITS[unit]}`;
}
const fmtText = (text) => (text ? fmtTime(Date.parse(text) * 1e6) : "—");
const fmtMs = (ms) => (ms === null || ms === undefined ? "—" : ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);
const pad = (n) => String(n).padStart(2, "0");
const minuteLabel = (text) => { const d = new Date(text); return `${pad(d.getHours())}:${pad(d.getMinutes())}`; };
function fmtUptime(seconds) {
  const d = Math.floor(seconds / 86400), hours = Math.floor((seconds % 86400) / 3600), m = Math.floor((seconds % 3600) / 60);
  return d ? `${d}d ${hours}h` : hours ? `${hours}h ${m}m` : `${m}m ${seconds % 60}s`;
}
const REFUSED = ["spans_refused_busy", "spans_refused_storage", "spans_rejected_invalid"];
const STATUS_PILL = { ok: "status-ok", failed: "status-error", error: "status-error", running: "status-warn" };
const REPORT_FIGURES = [["segments_merged", fmtInt], ["segments_rewritten", fmtInt], ["segments_deleted", fmtInt], ["segments_written", fmtInt],
  ["rows_expired", fmtInt], ["bytes_before", fmtBytes], ["bytes_after", fmtBytes], ["bytes_reclaimed", fmtBytes], ["pending_deletion_bytes", fmtBytes]];

const stat = (label, value, testid, extra) => h("div", { class: "stat" }, h("span", { class: "label" }, label),
  h("span", { class: "value", "data-testid": testid }, value), extra ? h("span", { class: "muted small" }, extra) : null);

/** A bar of used against a bound: green, amber past 70%, red past 90%. */
function meter(label, used, bound, format, testid, note) {
  const share = bound > 0 ? Math.min(1, used / bound) : 0;
  const level = share > 0.9 ? "high" : share > 0.7 ? "mid" : "low";
  return h("div", { class: "meter-row", "data-testid": testid, "data-used": String(used), "data-bound": String(bound) },
    h("div", { class: "meter-label" }, h("span", {}, label), h("span", { class: "muted" }, `${format(used)} of ${format(bound)}` + (bound > 0 ? ` (${(share * 100).toFixed(1)}%)` : ""))),
    h("div", { class: "meter" }, h("div", { class: "meter-fill " + level, style: `width:${(share * 100).toFixed(2)}%` })),
    note ? h("div", { class: "muted small" }, note) : null);
}

function cell(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export class OperationsView {
  constructor(root) { this.root = root; this.timer = null; this.open = new Set(); this.stopped = false; }

  mount() {
    this.uptime = h("span", { class: "muted small" });
    this.ingest = h("div", {}, h("div", { class: "empty" }, "Loading…"));
    this.storage = h("div");
    this.jobs = h("div");
    this.retention = h("div");
    // Outside what the poll re-renders, so an edit in progress survives the refresh.
    this.policyEditor = h("div", { "data-testid": "retention-editor-slot" });
    this.reportSlot = h("div", { "data-testid": "compact-report-slot" });
    this.actionError = h("div");
    this.runs = h("div");
    this.onVisible = () => { if (!document.hidden && !this.stopped) this.load(); };
    document.addEventListener("visibilitychange", this.onVisible);
    this.root.append(
      h("div", { class: "page-head" }, h("h1", {}, "Operations"), h("span", { class: "live" }, "● live"), h("span", { class: "spacer" }), this.uptime),
      h("h2", { class: "section-title" }, "Ingest"), this.ingest,
      h("h2", { class: "section-title" }, "Storage"), this.storage,
      h("h2", { class: "section-title" }, "Jobs"), this.jobs,
      h("h2", { class: "section-title" }, "Retention and compaction"), this.retention, this.policyEditor,
      h("div", { class: "toolbar" },
        h("button", { "data-testid": "compact-dry-run", onclick: () => this.compact(true) }, "Dry run"),
        h("button", { class: "primary", "data-testid": "compact-run", onclick: () => this.compact(false) }, "Run compaction"),
        h("span", { class: "muted small" }, "A dry run reads only the catalog and changes nothing.")),
      this.actionError, this.reportSlot,
      h("h3", { class: "subtitle" }, "Compaction runs"), this.runs);
    this.load();
  }

  unmount() {
    this.stopped = true;
    clearTimeout(this.timer);
    document.removeEventListener("visibilitychange", this.onVisible);
  }

  /** One refresh at a time: a refresh asked for during another runs right after it. */
  async load() {
    if (this.inflight) { this.again = true; return; }
    this.inflight = true;
    try { await this.refresh(); } finally { this.inflight = false; }
    if (this.again && !this.stopped) { this.again = false; this.load(); }
  }

  async refresh() {
    clearTimeout(this.timer);
    const parts = await Promise.allSettled([api("/api/v1/operations"), api("/api/v1/retention"), api("/api/v1/jobs"),
      api("/api/v1/retention/runs?limit=20"), Promise.all([...this.open].map((name) => api(`/api/v1/jobs/${encodeURIComponent(name)}/runs?limit=10`)
        .then((r) => [name, r.runs]).catch(() => [name, null])))]);
    if (this.stopped) return;
    const [ops, retention, jobs, runs, jobRuns] = parts;
    const show = (slot, part, render) => {
      try { if (part.status === "rejected") throw part.reason; setChildren(slot, render(part.value)); } catch (error) { setChildren(slot, errorBox(error)); }
    };
    show(this.ingest, ops, (o) => this.renderIngest(o));
    show(this.storage, retention, (r) => this.renderStorage(r));
    show(this.jobs, jobs, (j) => this.renderJobs(j, Object.fromEntries(jobRuns.value || [])));
    show(this.retention, retention, (r) => this.renderPolicy(r));
    show(this.runs, runs, (r) => this.renderRuns(r.runs));
    clearTimeout(this.timer);
    if (!document.hidden && !this.stopped) this.timer = setTimeout(() => this.load(), POLL_MS);
  }

  renderIngest(o) {
    this.uptime.textContent = `up ${fmtUptime(o.uptime_seconds)} since ${fmtText(o.started_at)}`;
    const t = o.ingest.totals, q = o.ingest.queue, s = o.store, d = o.disk;
    const refused = REFUSED.reduce((sum, k) => sum + (t[k] || 0), 0);
    const count = (v) => fmtInt(Math.round(v));
    return [
      h("div", { class: "usage ops-stats", "data-testid": "ingest-totals" },
        stat("Spans accepted", fmtInt(t.spans_accepted), "ops-accepted", `${o.ingest.spans_per_second.toFixed(1)} /s last minute`),
        stat("Refused: busy", fmtInt(t.spans_refused_busy), "ops-refused-busy", "queue full (429)"),
        stat("Refused: storage", fmtInt(t.spans_refused_storage), "ops-refused-storage"),
        stat("Rejected invalid", fmtInt(t.spans_rejected_invalid), "ops-rejected-invalid"),
        stat("Log records", fmtInt(t.log_records_accepted), "ops-logs"),
        stat("Metric points", fmtInt(t.metric_points_accepted), "ops-metrics"),
        stat("Malformed requests", fmtInt(t.requests_malformed), "ops-malformed"),
        stat("Refused, disk low", fmtInt(t.requests_refused_disk_low), "ops-disk-refused")),
      h("div", { class: "charts" },
        timeChart({ title: "Spans a minute (last hour)", testid: "chart-ingest",
          points: o.ingest.per_minute.map((m) => ({ label: minuteLabel(m.start), values: [m.spans_accepted, REFUSED.reduce((sum, k) => sum + (m[k] || 0), 0)] })),
          series: [{ name: "accepted", color: "#5b7bd5", format: count }, { name: "refused (back-pressure, storage, invalid)", color: "#d64545", format: count }] }),
        h("section", { class: "chart-card", "data-testid": "ops-bounds" }, h("div", { class: "chart-head" }, h("h3", {}, "Bounds")),
          meter("Ingest queue", q.spans, q.capacity_spans, fmtInt, "ops-queue", `batches of ${fmtInt(q.batch_spans)} spans, ${q.workers} workers`),
          meter("Ingest queue bytes", q.bytes, q.capacity_bytes, fmtBytes, "ops-queue-bytes", "the requests of the queued spans"),
          meter("Unsealed bytes", s.unsealed_bytes, s.max_unsealed_bytes, fmtBytes, "ops-unsealed",
            `${fmtInt(s.unsealed_spans)} unsealed spans; a segment seals after ${fmtMs(s.segment_max_age_ms)}`),
          d ? meter("Free-space floor against free space", d.min_free_bytes, d.free_bytes, fmtBytes, "ops-disk",
            `${fmtBytes(d.free_bytes)} free, ingest stops under ${fmtBytes(d.min_free_bytes)}`) : h("div", { class: "muted", "data-testid": "ops-disk" }, "Disk: no free-space floor configured."),
          d && d.low ? h("div", { class: "error-box" }, "Disk low: ingest is refused until space is freed.") : null,
          h("dl", { class: "facts", "data-testid": "ops-wal" },
            h("dt", {}, "WAL"), h("dd", {}, `${fmtInt(s.wal_files)} files, ${fmtBytes(s.wal_bytes)}, fsync ${s.wal_fsync}`),
            h("dt", {}, "Refused total"), h("dd", {}, refused ? h("span", { class: "error-text" }, fmtInt(refused)) : "0")))),
    ];
  }

  renderStorage(r) {
    const st = r.storage;
    const kinds = Object.entries(st).filter(([, v]) => v && typeof v === "object");
    return [
      h("div", { class: "usage ops-stats", "data-testid": "storage-totals" },
        stat("Segment bytes", fmtBytes(st.segment_bytes), "storage-segment-bytes"),
        stat("Index bytes", fmtBytes(st.index_bytes), "storage-index-bytes"),
        stat("Pending deletion", fmtBytes(st.pending_deletion_bytes), "storage-pending"),
        stat("Segments", fmtInt(kinds.reduce((sum, [, v]) => sum + v.segments, 0)), "storage-segments")),
      h("div", { class: "table-wrap" }, h("table", { class: "grid", "data-testid": "storage-kinds" },
        h("thead", {}, h("tr", {}, h("th", {}, "Kind"), h("th", { class: "num" }, "Segments"), h("th", { class: "num" }, "Rows"), h("th", { class: "num" }, "Bytes"),
          h("th", {}, "Oldest"), h("th", {}, "Newest"), h("th", {}, "Retention floor"))),
        h("tbody", {}, kinds.map(([kind, v]) => h("tr", { "data-kind": kind },
          h("td", { class: "name" }, kind), h("td", { class: "num", "data-col": "segments" }, fmtInt(v.segments)),
          h("td", { class: "num", "data-col": "rows" }, fmtInt(v.rows)), h("td", { class: "num", "data-col": "bytes", title: `${v.bytes} bytes` }, fmtBytes(v.bytes)),
          h("td", { class: "mono nowrap" }, fmtText(v.oldest)), h("td", { class: "mono nowrap" }, fmtText(v.newest)),
          h("td", { class: "mono nowrap" }, v.retention_floor ? fmtText(v.retention_floor) : "keep all")))))),
    ];
  }

  renderJobs(body, runsByJob) {
    const rows = [];
    for (const job of body.jobs) {
      const last = job.last_run;
      const status = job.running ? "running" : last ? last.status : "never run";
      const open = this.open.has(job.name);
      rows.push(h("tr", { "data-testid": "job-row", "data-job": job.name },
        h("td", { class: "name" }, job.name, h("span", { class: "tag" }, job.kind)),
        h("td", { class: "mono" }, job.schedule),
        h("td", { class: "mono nowrap" }, last ? fmtText(last.started_at) : "—"),
        h("td", {}, h("span", { class: "pill " + (STATUS_PILL[status] || ""), "data-col": "status" }, status)),
        h("td", { class: "num" }, last ? fmtMs(last.duration_ms) : "—"),
        h("td", { class: "num" }, last ? fmtInt(last.rows) : "—"),
        h("td", { class: "mono nowrap" }, job.next_run ? fmtText(job.next_run) : "not scheduled"),
        h("td", { class: last && last.error ? "error-text" : "muted" }, last && last.error ? last.error : ""),
        h("td", { class: "nowrap" },
          h("button", { "data-testid": "job-run", onclick: (e) => this.runJob(job.name, e.target) }, "Run now"),
          h("button", { class: "link", "data-testid": "job-runs-toggle", onclick: () => { if (open) this.open.delete(job.name); else this.open.add(job.name); this.load(); } },
            open ? "Hide runs" : "Runs"))));
      if (open) {
        const runs = runsByJob[job.name];
        rows.push(h("tr", { class: "job-runs" }, h("td", { colspan: 9 },
          runs ? h("table", { class: "grid compact", "data-testid": "job-runs", "data-job": job.name },
            h("thead", {}, h("tr", {}, ["Run", "Trigger", "Status", "Started", "Duration", "Rows", "Window", "Error"].map((t) => h("th", {}, t)))),
            h("tbody", {}, runs.length ? runs.map((r) => h("tr", { "data-testid": "job-run-row", "data-run-id": String(r.id) },
              h("td", { class: "mono" }, `#${r.id}`), h("td", {}, r.trigger),
              h("td", {}, h("span", { class: "pill " + (STATUS_PILL[r.status] || "") }, r.status)),
              h("td", { class: "mono nowrap" }, fmtText(r.started_at)), h("td", { class: "num" }, fmtMs(r.duration_ms)),
              h("td", { class: "num" }, fmtInt(r.rows)),
              h("td", { class: "mono nowrap" }, r.window_start ? `${fmtText(r.window_start)} – ${fmtText(r.window_end)}` : "—"),
              h("td", { class: "error-text" }, r.error || "")))
              : h("tr", {}, h("td", { colspan: 8, class: "empty" }, "No runs yet."))))
            : h("div", { class: "muted" }, "Loading runs…"))));
      }
    }
    if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: 9, class: "empty" }, "No jobs.")));
    return [
      h("div", { class: "table-wrap" }, h("table", { class: "grid", "data-testid": "jobs" },
        h("thead", {}, h("tr", {}, ["Job", "Schedule", "Last run", "Status", "Duration", "Rows", "Next run", "Error", ""].map((t) => h("th", {}, t)))),
        h("tbody", {}, rows))),
      body.problems.length ? h("div", { class: "warning-box", "data-testid": "job-problems" },
        body.problems.map((p) => h("div", {}, `${p.file}:${p.line}: ${p.message}`))) : null,
    ];
  }

  async runJob(name, button) {
    button.disabled = true;
    try {
      await api(`/api/v1/jobs/${encodeURIComponent(name)}/run`, { method: "POST" });
      this.open.add(name);
      setChildren(this.actionError);
    } catch (error) {
      setChildren(this.actionError, errorBox(error));
    }
    this.load();
  }

  renderPolicy(r) {
    const c = r.compaction;
    const policy = r.policy && typeof r.policy === "object" ? Object.entries(r.policy) : [];
    return h("div", { class: "columns" },
      h("section", { "data-testid": "retention-policy" }, h("h3", {}, "Policy ", h("span", { class: "tag" }, r.source)),
        h("table", { class: "grid compact" }, h("tbody", {}, policy.map(([k, v]) => h("tr", {}, h("td", { class: "name" }, k), h("td", { class: "mono" }, cell(v)))))),
        h("div", { class: "toolbar" },
          h("button", { "data-testid": "retention-edit", onclick: () => this.editPolicy(r.policy, r.source) }, "Edit policy"))),
      h("section", {}, h("h3", {}, "Compaction"),
        h("dl", { class: "facts ops-facts" },
          h("dt", {}, "Schedule"), h("dd", { class: "mono" }, r.schedule),
          h("dt", {}, "Target segment"), h("dd", {}, fmtBytes(c.target_segment_bytes)),
          h("dt", {}, "Small segment"), h("dd", {}, `under ${fmtBytes(c.small_segment_bytes)}`),
          h("dt", {}, "Delete grace"), h("dd", {}, `${c.delete_grace_seconds} s`),
          h("dt", {}, "Rate limit"), h("dd", {}, c.max_bytes_per_second ? fmtBytes(c.max_bytes_per_second) + "/s" : "none"),
          h("dt", {}, "Last run"), h("dd", {}, r.last_compaction ? `#${r.last_compaction.id} ${fmtText(r.last_compaction.started_at)}` : "never"))));
  }

  // ---- the retention policy editor (PUT /api/v1/retention; DELETE goes back to the configuration's) ----

  editPolicy(policy, source) {
    const inputs = {};
    const field = (name, label, el, hint) => h("label", { "data-field": name }, h("span", {}, label), inputs[name] = el,
      hint ? h("small", { class: "muted" }, hint) : null);
    const age = (name, label) => field(name, label, h("input", { value: String(policy[name] ?? ""), class: "narrow", placeholder: "30d" }));
    const overrideRows = h("tbody", { "data-testid": "retention-overrides" });
    const addOverride = (o = {}) => {
      const service = h("input", { value: o.service || "", placeholder: "any service", "data-part": "service" });
      const environment = h("input", { value: o.environment || "", placeholder: "any environment", "data-part": "environment" });
      const ageInput = h("input", { value: String(o.age ?? ""), placeholder: "90d", class: "narrow", "data-part": "age" });
      const row = h("tr", { "data-testid": "retention-override" }, h("td", {}, service), h("td", {}, environment), h("td", {}, ageInput),
        h("td", {}, h("button", { type: "button", class: "link", onclick: () => row.remove() }, "Remove")));
      overrideRows.append(row);
    };
    (policy.overrides || []).forEach(addOverride);
    const tables = Object.entries(policy.output_tables || {}).map(([t, a]) => `${t} ${a}`).join("\n");
    const error = h("div");
    const save = async () => {
      const body = { spans: inputs.spans.value.trim(), logs: inputs.logs.value.trim(), metric_points: inputs.metric_points.value.trim(),
        outputs: inputs.outputs.value.trim(), max_bytes: Math.round(Number(inputs.max_gib.value || 0) * 2 ** 30), overrides: [], output_tables: {} };
      for (const row of overrideRows.children) {
        const part = (name) => row.querySelector(`[data-part=${name}]`).value.trim();
        const o = { age: part("age") };
        if (part("service")) o.service = part("service");
        if (part("environment")) o.environment = part("environment");
        body.overrides.push(o);
      }
      for (const line of inputs.output_tables.value.split("\n").map((l) => l.trim()).filter(Boolean)) {
        const [table, value] = line.split(/\s+/);
        body.output_tables[table] = value ?? "";
      }
      await this.policyAction("PUT", body, error);
    };
    setChildren(this.policyEditor, h("form", { class: "chart-card policy-editor", "data-testid": "retention-editor",
      onsubmit: (e) => { e.preventDefault(); save(); } },
      h("div", { class: "chart-head" }, h("h3", {}, "Edit the retention policy"), h("span", { class: "spacer" }),
        h("button", { type: "button", class: "link", onclick: () => setChildren(this.policyEditor) }, "Cancel")),
      h("p", { class: "muted small" }, "Ages such as 36h, 30d, 2w; 0 keeps forever. Kept in the index: it outlives restarts and replaces the configuration's until reset."),
      h("div", { class: "filters" }, age("spans", "Spans"), age("logs", "Logs"), age("metric_points", "Metric points"), age("outputs", "Job outputs"),
        field("max_gib", "Size cap (GiB)", h("input", { type: "number", step: "any", min: "0", class: "narrow",
          value: policy.max_bytes ? String(policy.max_bytes / 2 ** 30) : "0" }), "0: none")),
      h("h4", {}, "Overrides ", h("small", { class: "muted" }, "the most specific match wins")),
      h("table", { class: "grid compact" }, h("thead", {}, h("tr", {}, ["Service", "Environment", "Age", ""].map((t) => h("th", {}, t)))), overrideRows),
      h("div", { class: "toolbar" }, h("button", { type: "button", "data-testid": "retention-add-override", onclick: () => addOverride() }, "Add override")),
      h("label", { "data-field": "output_tables", class: "block" }, h("span", {}, "Ages of single output tables (one “table age” a line)"),
        inputs.output_tables = h("textarea", { rows: 3, placeholder: "rollup_1m 30d" }, tables)),
      h("div", { class: "toolbar" },
        h("button", { type: "submit", class: "primary", "data-testid": "retention-save" }, "Save policy"),
        source === "api" ? h("button", { type: "button", "data-testid": "retention-reset",
          onclick: () => this.policyAction("DELETE", undefined, error) }, "Use the configuration's") : null),
      error));
  }

  async policyAction(method, body, error) {
    setChildren(error);
    try {
      await api("/api/v1/retention", { method, body });
      setChildren(this.policyEditor);
      this.load();
    } catch (e) {
      setChildren(error, errorBox(e));
    }
  }

  renderRuns(runs) {
    return h("div", { class: "table-wrap" }, h("table", { class: "grid", "data-testid": "compaction-runs" },
      h("thead", {}, h("tr", {}, ["Run", "Trigger", "Kind", "Started", "Finished", "Merged", "Rewritten", "Deleted", "Reclaimed", "Error"].map((t) => h("th", {}, t)))),
      h("tbody", {}, runs.length ? runs.map((run) => {
        const rep = run.report || {};
        return h("tr", { "data-testid": "compaction-run", "data-run-id": String(run.id), "data-dry-run": String(run.dry_run) },
          h("td", { class: "mono" }, `#${run.id}`), h("td", {}, run.trigger),
          h("td", {}, h("span", { class: "pill" + (run.dry_run ? "" : " status-ok") }, run.dry_run ? "dry run" : "compaction")),
          h("td", { class: "mono nowrap" }, fmtText(run.started_at)), h("td", { class: "mono nowrap" }, run.finished_at ? fmtText(run.finished_at) : "running"),
          h("td", { class: "num" }, fmtInt(rep.segments_merged)), h("td", { class: "num" }, fmtInt(rep.segments_rewritten)),
          h("td", { class: "num" }, fmtInt(rep.segments_deleted)), h("td", { class: "num" }, fmtBytes(rep.bytes_reclaimed)),
          h("td", { class: "error-text" }, run.error || ""));
      }) : h("tr", {}, h("td", { colspan: 10, class: "empty" }, "No compaction has run.")))));
  }

  async compact(dryRun) {
    if (!dryRun && !confirm("Run a compaction now? Expired rows are deleted and small segments merged; this cannot be undone.")) return;
    setChildren(this.actionError);
    setChildren(this.reportSlot, h("div", { class: "empty" }, dryRun ? "Planning…" : "Compacting…"));
    try {
      const report = await api("/api/v1/retention/compact" + (dryRun ? "?dry_run=true" : ""), { method: "POST" });
      setChildren(this.reportSlot, this.renderReport(report));
    } catch (error) {
      setChildren(this.reportSlot);
      setChildren(this.actionError, errorBox(error));
    }
    this.load();
  }

  renderReport(report) {
    const actions = Array.isArray(report.actions) ? report.actions : [];
    const columns = [...new Set(actions.flatMap((a) => Object.keys(a)))];
    const verb = report.dry_run ? "would be" : "were";
    return h("section", { class: "chart-card report", "data-testid": "compact-report", "data-dry-run": String(!!report.dry_run) },
      h("div", { class: "chart-head" }, h("h3", {}, report.dry_run ? "Dry run: what a compaction would do" : "Compaction report"), h("span", { class: "spacer" }),
        h("button", { class: "link", onclick: () => setChildren(this.reportSlot) }, "Close")),
      h("p", { "data-testid": "compact-summary" },
        `${fmtInt(report.segments_merged)} segments ${verb} merged, ${fmtInt(report.segments_rewritten)} rewritten, ${fmtInt(report.segments_deleted)} deleted; `
        + `${fmtBytes(report.bytes_reclaimed)} ${verb} reclaimed.` + (report.stopped_early ? " Stopped early." : "")),
      h("div", { class: "usage" }, REPORT_FIGURES.filter(([k]) => k in report).map(([k, f]) => stat(k.replaceAll("_", " "), f(report[k]), "report-" + k))),
      report.output_rows_deleted && Object.keys(report.output_rows_deleted).length
        ? h("div", { class: "muted small" }, "Output rows deleted: " + Object.entries(report.output_rows_deleted).map(([t, n]) => `${t} ${fmtInt(n)}`).join(", ")) : null,
      actions.length ? h("div", { class: "table-wrap" }, h("table", { class: "grid compact", "data-testid": "report-actions" },
        h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c.replaceAll("_", " "))))),
        h("tbody", {}, actions.map((a) => h("tr", {}, columns.map((c) => h("td", { class: typeof a[c] === "number" ? "num" : "" },
          typeof a[c] === "number" && /bytes/.test(c) ? fmtBytes(a[c]) : cell(a[c])))))))) : h("div", { class: "muted" }, "Nothing to do."));
  }
}
