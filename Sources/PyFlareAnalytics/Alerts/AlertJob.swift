import Logging
import Foundation
import GRDB
import PyFlareSQL
import PyFlareWire

/// The Swift job that evaluates every enabled alert rule on the materialized tables (the
/// per-minute rollups, the detected patterns; never raw spans), opens an event when a rule's
/// condition starts and resolves it when it ends, and hands the notifications to the
/// dispatcher.
public struct AlertJob: AnalyticsJob {
    public let name = "alerts"
    public let schedule: JobSchedule
    public let outputTable: String? = "alert_events"
    let dispatcher: AlertDispatcher?

    public init(schedule: JobSchedule = .every(seconds: 60), dispatcher: AlertDispatcher?) {
        self.schedule = schedule
        self.dispatcher = dispatcher
    }

    public func run(_ context: JobContext) async throws -> JobOutcome {
        let book = AlertBook(pool: context.pool)
        var changed = 0
        for rule in try await book.rules() where rule.enabled {
            var firing = Set<String>()
            for finding in try await findings(of: rule, context) {
                firing.insert(finding.key)
                if let event = try await book.fire(rule, key: finding.key, value: finding.value, summary: finding.summary,
                                                   link: finding.link, now: context.now) {
                    changed += 1
                    context.logger.notice("alert fired", metadata: [
                        "rule": "\(rule.id)", "event": "\(event.id)", "silenced": "\(event.silenced)", "summary": "\(finding.summary)",
                    ])
                }
            }
            let resolved = try await book.resolve(rule, except: firing, now: context.now)
            if resolved > 0 { context.logger.notice("alert resolved", metadata: ["rule": "\(rule.id)", "events": "\(resolved)"]) }
            changed += resolved
        }
        // Also what a restart or a failed attempt left undelivered.
        dispatcher?.deliverDue(book: book)
        return JobOutcome(rows: changed)
    }

    /// What holds now: one finding per firing key.
    struct Finding {
        var key: String
        var value: Double?
        var summary: String
        var link: String
    }

    func findings(of rule: AlertRule, _ context: JobContext) async throws -> [Finding] {
        switch rule.kind {
        case .metric: try await metricFinding(rule, context).map { [$0] } ?? []
        case .pattern: try await patternFindings(rule, context)
        }
    }

    /// The rule's measure over its window of `rollup_1m`, when it crosses the threshold.
    private func metricFinding(_ rule: AlertRule, _ context: JobContext) async throws -> Finding? {
        guard let metric = rule.metric, let window = rule.windowNanoseconds, let comparison = rule.comparison,
              let threshold = rule.threshold else { return nil }
        let range = (context.now - window)..<context.now
        let filter = rule.filter.filter { AlertRule.filterDimensions.contains($0.0) }
        // On the job's SQL engine: its connections know the latency sketch functions.
        let result = try await context.engine.run("""
            SELECT coalesce(sum(requests), 0), coalesce(sum(errors), 0), coalesce(sum(cost_micros), 0),
                   coalesce(sum(unpriced_requests), 0), sketch_quantile(sketch_merge(latency_sketch), 0.95)
            FROM rollup_1m WHERE bucket_ns >= ? AND bucket_ns < ?\(filter.map { " AND \($0.0) = ?" }.joined())
            """, parameters: .positional([.integer(range.lowerBound), .integer(range.upperBound)] + filter.map { .text($0.1) }),
            limits: context.settings.jobLimits)
        guard let figures = result.rows.first else { return nil }
        let requests = figures[0].integer ?? 0
        if metric.needsRequests, requests < max(1, rule.minRequests ?? 1) { return nil }
        let value: Double
        switch metric {
        case .errorRate: value = Double(figures[1].integer ?? 0) / Double(requests)
        case .p95LatencyMs: value = (figures[4].real ?? Double(figures[4].integer ?? 0)) / 1e6
        case .costPerHour: value = Double(figures[2].integer ?? 0) / 1e6 * Double(UnixTime.hour) / Double(window)
        case .unpricedCalls: value = Double(figures[3].integer ?? 0)
        case .requests: value = Double(requests)
        }
        guard comparison.holds(value, threshold) else { return nil }
        let scope = filter.isEmpty ? "all traffic" : filter.map { "\($0.0)=\($0.1)" }.joined(separator: ", ")
        let summary = "\(rule.name): \(metric.rawValue) \(Self.format(value, metric)) \(comparison.rawValue) "
            + "\(Self.format(threshold, metric)) over the last \(DurationText.text(window)) (\(scope), \(requests) requests)"
        return Finding(key: "", value: value, summary: summary, link: Self.link(metric, filter: filter, since: range.lowerBound))
    }

    /// Every ongoing pattern of the rule's types at its severity or above.
    private func patternFindings(_ rule: AlertRule, _ context: JobContext) async throws -> [Finding] {
        let rca = RCAReadModel(pool: context.pool, engine: context.engine, sliceSettings: SliceSettings())
        let patterns = try await rca.patterns(.init(range: 0..<Int64.max, type: nil, service: nil, model: nil, ongoing: true, limit: 1000))
        return patterns.filter { pattern in
            (rule.patternTypes.isEmpty || rule.patternTypes.contains(pattern.type)) && pattern.severity >= (rule.minSeverity ?? 0)
        }.map { pattern in
            Finding(key: pattern.id, value: pattern.severity,
                    summary: "\(rule.name): \(pattern.type) (severity \(Self.format(pattern.severity, nil))): \(pattern.description)",
                    link: "#/rca?pattern=\(pattern.id)")
        }
    }

    static func format(_ value: Double, _ metric: AlertRule.Metric?) -> String {
        switch metric {
        case .errorRate?: String(format: "%.1f%%", value * 100)
        case .p95LatencyMs?: String(format: "%.0f ms", value)
        case .costPerHour?: String(format: "$%.4f/h", value)
        case .unpricedCalls?, .requests?: String(format: "%.0f", value)
        case nil: String(format: "%.2f", value)
        }
    }

    /// The traces view that shows what the rule measured.
    static func link(_ metric: AlertRule.Metric, filter: [(String, String)], since: Int64) -> String {
        var query = filter.filter { ["service", "model", "environment", "feature"].contains($0.0) }.map { "\($0.0)=\(Self.escaped($0.1))" }
        if metric == .errorRate { query.append("status=error") }
        query.append("since=\(RFC3339.string(signed: since))")
        return "#/traces?" + query.joined(separator: "&")
    }

    private static func escaped(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+#"))) ?? text
    }
}
