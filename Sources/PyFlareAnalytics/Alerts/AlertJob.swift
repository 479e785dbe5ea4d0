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
        var sources = Sources()
        for rule in try await book.rules() where rule.enabled {
            var firing = Set<String>()
            for finding in try await findings(of: rule, context, &sources) {
                firing.insert(finding.key)
                if let (event, escalated) = try await book.fire(rule, key: finding.key, value: finding.value, threshold: finding.threshold,
                                                                summary: finding.summary,
                                                                link: finding.link, now: context.now) {
                    changed += 1
                    context.logger.notice(escalated ? "alert escalated" : "alert fired", metadata: [
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
        /// What the value was held against, when the rule's own threshold does not say it.
        var threshold: Double? = nil
        var summary: String
        var link: String
    }

    /// What several rules read, read once per run.
    struct Sources {
        var patterns: [RCAReadModel.Pattern]?
        var budgets: [BudgetStatus]?
    }

    func findings(of rule: AlertRule, _ context: JobContext, _ sources: inout Sources) async throws -> [Finding] {
        switch rule.kind {
        case .metric: return try await metricFinding(rule, context).map { [$0] } ?? []
        case .pattern:
            if sources.patterns == nil {
                let rca = RCAReadModel(pool: context.pool, engine: context.engine, sliceSettings: SliceSettings())
                sources.patterns = try await rca.patterns(.init(range: 0..<Int64.max, type: nil, service: nil, model: nil, ongoing: true, limit: 1000))
            }
            return patternFindings(rule, sources.patterns ?? [])
        case .drift: return try await driftFindings(rule, context)
        case .budget:
            if sources.budgets == nil {
                let book = BudgetBook(pool: context.pool)
                sources.budgets = try await book.statuses(try await book.budgets(), now: context.now)
            }
            return budgetFindings(rule, sources.budgets ?? [])
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
    private func patternFindings(_ rule: AlertRule, _ patterns: [RCAReadModel.Pattern]) -> [Finding] {
        patterns.filter { pattern in
            (rule.patternTypes.isEmpty || rule.patternTypes.contains(pattern.type)) && pattern.severity >= (rule.minSeverity ?? 0)
        }.map { pattern in
            Finding(key: pattern.id, value: pattern.severity,
                    summary: "\(rule.name): \(pattern.type) (severity \(Self.format(pattern.severity, nil))): \(pattern.description)",
                    link: "#/rca?pattern=\(pattern.id)")
        }
    }

    /// The drift scores of windows that started within the rule's window, at its severities:
    /// one finding per feature and scope (the newest window's).
    private func driftFindings(_ rule: AlertRule, _ context: JobContext) async throws -> [Finding] {
        let window = rule.windowNanoseconds ?? 2 * UnixTime.hour
        let filter = Dictionary(rule.filter, uniquingKeysWith: { first, _ in first })
        let drift = DriftReadModel(pool: context.pool, settings: DriftSettings())
        let severities = rule.severities.isEmpty ? ["significant"] : rule.severities
        let (alerts, _) = try await drift.alerts(.init(range: (context.now - window)..<context.now, severities: severities,
                                                       scope: filter["scope"], feature: filter["feature"], limit: 1000))
        var seen = Set<String>()
        return alerts.compactMap { alert in
            let key = "\(alert.feature)|\(alert.scopeKind):\(alert.scope)"
            guard seen.insert(key).inserted else { return nil }
            let summary = "\(rule.name): \(alert.feature) drifted (\(alert.method) \(Self.format(alert.score, nil)), \(alert.severity)) "
                + "in \(alert.scopeKind) \(alert.scope), \(alert.samples) samples against \(alert.referenceSamples)"
            return Finding(key: key, value: alert.score, summary: summary,
                           link: "#/quality?feature=\(Self.escaped(alert.feature))&scope=\(Self.escaped(alert.scope))")
        }
    }

    /// Budgets (all, or the one the rule names) whose spend in the current period reached the
    /// rule's fraction of their limit — or, for a rule without one, each of the budget's own
    /// alert thresholds reached (one event per threshold, as `budgets.webhook_url` announced
    /// them); a new period starts new events.
    private func budgetFindings(_ rule: AlertRule, _ statuses: [BudgetStatus]) -> [Finding] {
        let only = rule.filter.first { $0.0 == "budget" }.flatMap { Int64($0.1) }
        return statuses.filter { only == nil || $0.budget.id == only }.flatMap { status -> [Finding] in
            let budget = status.budget
            let fractions = rule.threshold.map { [$0] } ?? budget.alertThresholds
            let scope = budget.dimension == .global ? "all spend" : "\(budget.dimension.rawValue) \(budget.value ?? "")"
            let summary = "\(rule.name): budget \(budget.id) (\(scope), \(budget.period.rawValue)) spent "
                + String(format: "$%.2f of $%.2f (%.0f%%)", Double(status.spentMicros) / 1e6, Double(budget.limitMicros) / 1e6,
                         status.fractionUsed * 100)
            return fractions.filter { status.fractionUsed >= $0 }.map { fraction in
                // A rule of its own fraction keys by budget and period only, as it always has.
                let key = "\(budget.id)|\(status.period.lowerBound)" + (rule.threshold == nil ? "|\(fraction)" : "")
                return Finding(key: key, value: status.fractionUsed, threshold: fraction, summary: summary,
                               link: "#/costs?budget=\(budget.id)")
            }
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

    static func escaped(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+#"))) ?? text
    }
}
