import Foundation
import GRDB
import PyFlareStore
import PyFlareSQL
import PyFlareWire

/// The scheduled pattern detection: reads the rollups (and, for user segments, the spans of
/// the lookback), applies `PatternDetector`'s rules, and upserts what it finds into
/// `rca_patterns`. A pattern found again keeps its row, id and start; an ongoing pattern
/// not found again is ended at its last detection.
public struct PatternDetectionJob: AnalyticsJob {
    public let name = "rca_patterns"
    public let schedule: JobSchedule
    public let outputTable: String? = "rca_patterns"
    let settings: PatternSettings

    public init(schedule: JobSchedule = .every(seconds: 300), settings: PatternSettings) {
        self.schedule = schedule
        self.settings = settings
    }

    public func run(_ context: JobContext) async throws -> JobOutcome {
        let detection = PatternDetection(settings: settings, context: context)
        var patterns = try await detection.errorSpikes()
        patterns += try await detection.latencyDegradations()
        patterns += try await detection.costAnomalies()
        patterns += try await detection.temporalPatterns()
        patterns += try await detection.userSegments()
        patterns += try await detection.qualityDrops()
        try await detection.save(patterns)
        return JobOutcome(rows: patterns.count, window: (context.now - settings.lookback)..<context.now)
    }
}

/// One run of pattern detection: the reads behind each rule and the write of what was found.
struct PatternDetection {
    let settings: PatternSettings
    let context: JobContext

    var now: Int64 { context.now }

    static func scope(_ pairs: [(String, String?)]) -> [(String, String)] {
        pairs.compactMap { key, value in value.flatMap { $0.isEmpty ? nil : (key, $0) } }
    }

    func errorSpikes() async throws -> [DetectedPattern] {
        let step = settings.errorBucket
        let until = TimeBucket.floor(now, step), since = until - TimeBucket.ceil(settings.lookback, step)
        let rows = try await context.pool.readRows { db in
            try Row.fetchAll(db, sql: """
                SELECT (bucket_ns / ?) * ?, service, model, operation, sum(requests), sum(errors) FROM rollup_1m
                WHERE bucket_ns >= ? AND bucket_ns < ? GROUP BY 2, 3, 4, 1 ORDER BY 2, 3, 4, 1
                """, arguments: [step, step, since, until])
        }
        var byScope: [[String]: [Int64: PatternDetector.RateBucket]] = [:]
        for row in rows {
            let key: [String] = [row[1], row[2], row[3]], start: Int64 = row[0]
            byScope[key, default: [:]][start] = PatternDetector.RateBucket(start: start, requests: row[4], errors: row[5])
        }
        var patterns: [DetectedPattern] = []
        for (key, known) in byScope where known.values.reduce(0, { $0 + $1.errors }) >= settings.minErrors {
            let buckets = stride(from: since, to: until, by: Int(step)).map { start in
                known[start] ?? PatternDetector.RateBucket(start: start, requests: 0, errors: 0)
            }
            let scope = Self.scope([("service", key[0]), ("model", key[1]), ("operation", key[2])])
            for var spike in PatternDetector.errorSpikes(scope: scope, buckets: buckets, now: now, settings: settings) {
                spike.suggestedActions = try await errorActions(spike, service: key[0], model: key[1])
                patterns.append(spike)
            }
        }
        return patterns
    }

    /// Actions for a spike, from the failure cluster holding most of its errors.
    func errorActions(_ spike: DetectedPattern, service: String, model: String) async throws -> [String] {
        let top = try await context.pool.readRows { db in
            try Row.fetchOne(db, sql: """
                SELECT m.cluster_id, count(*), t.words FROM failure_cluster_members m JOIN failure_templates t ON t.id = m.cluster_id
                WHERE m.time_ns >= ? AND m.time_ns < ? AND m.service = ? AND coalesce(m.model, '') = ?
                GROUP BY m.cluster_id ORDER BY 2 DESC LIMIT 1
                """, arguments: [spike.start, spike.end ?? now, service, model])
        }
        var actions: [String] = []
        let subject = model.isEmpty ? "service \(service)" : "model \(model)"
        if let top {
            let template = FailureTemplateText.text(FailureTemplateText.words(top[2]))
            let text = template.lowercased()
            let id: Int64 = top[0], count: Int = top[1]
            func has(_ words: String...) -> Bool { words.contains { text.contains($0) } }
            if has("rate limit", "ratelimit", "429", "too many requests", "quota") {
                actions.append("Rate limiting causes the spike: add retry with exponential backoff and jitter for \(subject), or raise the provider quota.")
            } else if has("timeout", "timed out", "deadline") {
                actions.append("Requests to \(subject) time out: raise the client timeout or stream responses, and check the provider's status page.")
            } else if has("context length", "context_length", "maximum context", "too many tokens", "token limit") {
                actions.append("Prompts exceed \(subject)'s context window: truncate or summarize the context before the call.")
            } else if has("unauthorized", "401", "403", "api key", "permission", "forbidden") {
                actions.append("Authorization fails for \(subject): check the API key or credentials that service \(service) uses.")
            } else if has("overloaded", "503", "502", "500", "unavailable", "internal server error", "bad gateway") {
                actions.append("The provider of \(subject) is failing: fail over to another model or provider and check its status page.")
            }
            actions.append("Open failure cluster \(id) (\(FailureTemplateText.name(FailureTemplateText.words(top[2])))), "
                + "which holds \(count) failures of this window: GET /api/v1/rca/clusters/\(id).")
        }
        actions.append("Check deploys, prompt or configuration changes of service \(service) around \(RFC3339.string(signed: spike.start)).")
        return actions
    }

    func latencyDegradations() async throws -> [DetectedPattern] {
        let step = settings.latencyBucket
        let until = TimeBucket.floor(now, step), since = until - TimeBucket.ceil(settings.lookback, step)
        let result = try await context.engine.run("""
            SELECT (bucket_ns / :step) * :step AS bucket, service, model, sum(requests),
                   sketch_quantile(sketch_merge(latency_sketch), 0.95), sum(input_tokens)
            FROM rollup_1m WHERE bucket_ns >= :since AND bucket_ns < :until AND model != ''
            GROUP BY service, model, bucket ORDER BY service, model, bucket
            """, parameters: .named(["step": .integer(step), "since": .integer(since), "until": .integer(until)]), limits: context.settings.jobLimits)
        var byScope: [[String]: [PatternDetector.LatencyBucket]] = [:]
        for row in result.rows {
            guard let service = row[1].string, let model = row[2].string, let p95 = row[4].real else { continue }
            let requests = Int(row[3].integer ?? 0)
            byScope[[service, model], default: []].append(PatternDetector.LatencyBucket(
                start: row[0].integer ?? 0, requests: requests, p95Milliseconds: p95 / 1e6,
                inputTokensPerRequest: Double(row[5].integer ?? 0) / Double(max(1, requests))))
        }
        return byScope.sorted { $0.key.lexicographicallyPrecedes($1.key) }.compactMap { key, buckets in
            let scope = Self.scope([("service", key[0]), ("model", key[1])])
            guard var pattern = PatternDetector.latencyDegradation(scope: scope, buckets: buckets, settings: settings) else { return nil }
            pattern.suggestedActions += [
                "Compare model \(key[1]) with another model on the same feature: GET /api/v1/rca/slices?metric=latency_p95.",
                "Check the provider's status page for degraded performance of \(key[1]).",
            ]
            return pattern
        }
    }

    func costAnomalies() async throws -> [DetectedPattern] {
        let recentStart = TimeBucket.floor(now, UnixTime.hour) - 23 * UnixTime.hour
        let historyStart = recentStart - settings.history
        let days = Int(settings.history / UnixTime.day)
        let (recent, history) = try await context.pool.readRows { db in
            let recent = try Row.fetchAll(db, sql: """
                SELECT dimension, key, sum(cost_micros), min(bucket_ns) FROM cost_by_dimension_1h
                WHERE bucket_ns >= ? AND dimension IN ('user', 'feature', 'model') AND key != '' GROUP BY 1, 2
                """, arguments: [recentStart])
            let history = try Row.fetchAll(db, sql: """
                SELECT dimension, key, (bucket_ns - ?) / ?, sum(cost_micros) FROM cost_by_dimension_1h
                WHERE bucket_ns >= ? AND bucket_ns < ? AND dimension IN ('user', 'feature', 'model') AND key != '' GROUP BY 1, 2, 3
                """, arguments: [historyStart, UnixTime.day, historyStart, recentStart])
            return (recent, history)
        }
        var daily: [[String]: [Int64]] = [:]
        for row in history {
            let day: Int = row[2]
            guard day >= 0 && day < days else { continue }
            daily[[row[0], row[1]], default: Array(repeating: 0, count: days)][day] += row[3] as Int64
        }
        // Sorted once per dimension: a key's peers are the others, their median found by position.
        var spendByDimension: [String: [Int64]] = [:]
        for row in recent { spendByDimension[row[0], default: []].append(row[2]) }
        spendByDimension = spendByDimension.mapValues { $0.sorted() }
        var patterns: [DetectedPattern] = []
        for row in recent {
            let dimension: String = row[0], key: String = row[1], spend: Int64 = row[2]
            let spends = spendByDimension[dimension] ?? []
            guard var pattern = PatternDetector.costAnomaly(
                dimension: dimension, key: key, recentMicros: spend, dailyHistoryMicros: daily[[dimension, key]] ?? [],
                peerMedianMicros: Self.medianWithoutOne(spend, of: spends), peers: spends.count - 1,
                firstRecentHour: row[3], settings: settings) else { continue }
            pattern.suggestedActions = [
                "Set a budget on \(dimension) \(key) (POST /api/v1/costs/budgets) so that spend alerts before it grows further.",
                "Look for loops and retries: GET /api/v1/costs/summary?group_by=\(dimension)&interval=1h shows when the spend began.",
                "Route \(dimension) \(key)'s calls to a cheaper model, or cap max output tokens.",
            ]
            patterns.append(pattern)
        }
        return patterns
    }

    /// The median of `sorted` without one occurrence of `value` (which it holds); nil when nothing is left.
    static func medianWithoutOne(_ value: Int64, of sorted: [Int64]) -> Double? {
        let count = sorted.count - 1
        guard count > 0, let removed = sorted.firstIndex(of: value) else { return nil }
        func element(_ k: Int) -> Double { Double(sorted[k < removed ? k : k + 1]) }
        return count % 2 == 1 ? element(count / 2) : (element(count / 2 - 1) + element(count / 2)) / 2
    }

    func temporalPatterns() async throws -> [DetectedPattern] {
        let since = TimeBucket.floor(now, UnixTime.hour) - settings.history
        let rows = try await context.pool.readRows { db in
            try Row.fetchAll(db, sql: """
                SELECT service, (bucket_ns / ?) % 24, sum(requests), sum(errors), min(bucket_ns),
                       (SELECT count(DISTINCT bucket_ns / ?) FROM rollup_1h days WHERE days.service = rollup_1h.service AND days.bucket_ns >= ?)
                FROM rollup_1h WHERE bucket_ns >= ? GROUP BY 1, 2
                """, arguments: [UnixTime.hour, UnixTime.day, since, since])
        }
        var days: [String: Int] = [:]
        var byService: [String: (requests: [Int], errors: [Int], start: Int64)] = [:]
        for row in rows {
            let service: String = row[0], hour: Int = row[1]
            var entry = byService[service] ?? (Array(repeating: 0, count: 24), Array(repeating: 0, count: 24), .max)
            entry.requests[hour] += row[2] as Int
            entry.errors[hour] += row[3] as Int
            entry.start = min(entry.start, row[4])
            byService[service] = entry
            days[service] = row[5]
        }
        return byService.sorted { $0.key < $1.key }.compactMap { service, entry in
            PatternDetector.temporalPattern(scope: [("service", service)], requests: entry.requests, errors: entry.errors,
                                            days: days[service] ?? 0, start: entry.start)
        }
    }

    func userSegments() async throws -> [DetectedPattern] {
        let since = now - settings.lookback
        let result = try await context.engine.run("""
            SELECT service, user_id, count(*), sum(status = 'error'), min(start_time_ns) FROM spans
            WHERE start_time_ns >= :since AND user_id IS NOT NULL GROUP BY 1, 2
            """, parameters: .named(["since": .integer(since)]), limits: context.settings.jobLimits)
        var byService: [String: [PatternDetector.UserCounts]] = [:]
        var starts: [String: Int64] = [:]
        for row in result.rows {
            guard let service = row[0].string, let user = row[1].string else { continue }
            byService[service, default: []].append(PatternDetector.UserCounts(
                user: user, requests: Int(row[2].integer ?? 0), errors: Int(row[3].integer ?? 0)))
            starts[service] = min(starts[service] ?? .max, row[4].integer ?? since)
        }
        return byService.sorted { $0.key < $1.key }.compactMap { service, users in
            PatternDetector.userSegment(scope: [("service", service)], users: users, start: starts[service] ?? since)
        }
    }

    func qualityDrops() async throws -> [DetectedPattern] {
        let recentStart = now - settings.qualityWindow, since = now - settings.lookback
        let rows = try await context.pool.readRows { db in
            try Row.fetchAll(db, sql: """
                SELECT name, coalesce(service, ''), coalesce(model, ''), time_ns >= ? AS recent, sum(passed = 1), sum(passed = 0),
                       avg(score), min(CASE WHEN passed = 0 THEN time_ns END)
                FROM evaluations WHERE time_ns >= ? AND time_ns < ? AND passed IS NOT NULL GROUP BY 1, 2, 3, 4
                """, arguments: [recentStart, since, now])
        }
        typealias Side = (counts: PatternDetector.VerdictCounts, mean: Double?, firstFailure: Int64?)
        var byScope: [[String]: (recent: Side?, baseline: Side?)] = [:]
        for row in rows {
            let side: Side = (PatternDetector.VerdictCounts(passed: row[4], failed: row[5]), row[6], row[7])
            let key: [String] = [row[0], row[1], row[2]]
            if row[3] as Bool { byScope[key, default: (nil, nil)].recent = side } else { byScope[key, default: (nil, nil)].baseline = side }
        }
        return byScope.sorted { $0.key.lexicographicallyPrecedes($1.key) }.compactMap { key, sides in
            guard let recent = sides.recent, let baseline = sides.baseline else { return nil }
            return PatternDetector.qualityDrop(
                scope: Self.scope([("service", key[1]), ("model", key[2])]), evaluation: key[0], recent: recent.counts,
                baseline: baseline.counts, firstRecentFailure: recent.firstFailure ?? recentStart,
                meanScores: (recent.mean, baseline.mean), settings: settings)
        }
    }

    func save(_ patterns: [DetectedPattern]) async throws {
        let now = now
        try await context.pool.write { db in
            let upsert = try db.makeStatement(sql: """
                INSERT INTO rca_patterns (id, type, scope, service, model, start_ns, end_ns, severity, description, evidence,
                    suggested_actions, first_detected_ns, last_detected_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET end_ns = excluded.end_ns, severity = excluded.severity,
                    description = excluded.description, evidence = excluded.evidence,
                    suggested_actions = excluded.suggested_actions, last_detected_ns = excluded.last_detected_ns
                """)
            for pattern in patterns {
                var actions = JSONWriter()
                actions.strings(pattern.suggestedActions)
                try upsert.execute(arguments: [
                    pattern.id, pattern.type.rawValue, pattern.scopeJSON, pattern.scopeValue("service"), pattern.scopeValue("model"),
                    pattern.start, pattern.end, pattern.severity, pattern.description, pattern.evidence,
                    String(decoding: actions.bytes, as: UTF8.self), now, now,
                ])
            }
            // What was ongoing and is not found any more ended when it was last seen.
            try db.execute(sql: "UPDATE rca_patterns SET end_ns = last_detected_ns WHERE end_ns IS NULL AND last_detected_ns < ?",
                           arguments: [now])
        }
    }
}
