import Foundation
import PyFlareModel
import PyFlareWire

public enum PatternType: String, Sendable, CaseIterable {
    case errorSpike = "error_spike"
    case latencyDegradation = "latency_degradation"
    case costAnomaly = "cost_anomaly"
    case qualityDrop = "quality_drop"
    case temporalPattern = "temporal_pattern"
    case userSegmentIssue = "user_segment_issue"
}

/// A pattern found in the telemetry (`docs/rca.md` gives each type's rule and severity formula).
public struct DetectedPattern: Sendable {
    public var type: PatternType
    /// What it concerns, in a fixed order: service, model, operation, user, feature, users.
    public var scope: [(String, String)]
    public var start: Int64
    /// nil while it lasts.
    public var end: Int64?
    /// 0 to 1.
    public var severity: Double
    public var description: String
    /// A JSON object: the numbers and series behind the pattern.
    public var evidence: String
    public var suggestedActions: [String]
    /// What makes the pattern the same one from run to run (with the type and scope).
    var identity: String

    /// Stable while the pattern lasts: a hash of the type, the scope and its identity (the
    /// start of a spike, the hours of a temporal pattern, the users of a segment).
    public var id: String {
        "pat_" + fingerprint(([type.rawValue] + scope.map { "\($0.0)=\($0.1)" } + [identity]).joined(separator: "|"))
    }

    public var scopeJSON: String {
        var json = JSONWriter()
        json.stringObject(scope)
        return String(decoding: json.bytes, as: UTF8.self)
    }

    func scopeValue(_ key: String) -> String? { scope.first { $0.0 == key }?.1 }
}

/// How patterns are found (`rca.patterns.*` in the config).
public struct PatternSettings: Sendable, Equatable {
    /// Error spikes and latency trends look this far back.
    public var lookback: Int64 = UnixTime.day
    /// The width of the error-rate buckets.
    public var errorBucket: Int64 = 5 * UnixTime.minute
    /// A spike bucket needs this many errors.
    public var minErrors = 5
    /// …and a robust z-score this high against the buckets before it.
    public var spikeZ = 4.0
    /// The width of the latency buckets, and the requests one needs to count.
    public var latencyBucket: Int64 = 15 * UnixTime.minute
    public var minLatencyRequests = 10
    /// A latency trend must raise p95 by this factor (late quarter against early quarter).
    public var latencyIncrease = 1.3
    /// Spend below this (US dollars) is never an anomaly.
    public var minCostUSD = 1.0
    /// Temporal patterns and cost history look this far back.
    public var history: Int64 = 7 * UnixTime.day
    /// A quality drop compares the evaluations of this last stretch with the rest of the lookback.
    public var qualityWindow: Int64 = UnixTime.hour
    /// …each side needing this many verdicts.
    public var minQualityVerdicts = 10

    public init() {}
}

/// The rules of each pattern type, over series the job reads from the rollups.
enum PatternDetector {
    // MARK: - error_spike

    struct RateBucket {
        var start: Int64
        var requests: Int
        var errors: Int
        var rate: Double { requests > 0 ? Double(errors) / Double(requests) : 0 }
    }

    /// Buckets whose error rate stands out against the (up to 36) buckets before them by a
    /// robust z-score on median and MAD (floor 2 points), with a two-proportion test against
    /// those buckets pooled (p < 0.001) and at least `minErrors` errors. Consecutive such
    /// buckets (one quiet bucket allowed between) are one spike.
    static func errorSpikes(scope: [(String, String)], buckets: [RateBucket], now: Int64, settings: PatternSettings) -> [DetectedPattern] {
        var anomalous: [Int] = []
        for index in buckets.indices where index >= 6 {
            let bucket = buckets[index]
            guard bucket.errors >= settings.minErrors else { continue }
            let history = buckets[max(0, index - 36)..<index].filter { $0.requests > 0 }
            guard history.count >= 6 else { continue }
            let rates = history.map(\.rate)
            let z = Statistics.robustZ(bucket.rate, history: rates, floor: 0.02)
            let pooledErrors = history.reduce(0) { $0 + $1.errors }, pooledRequests = history.reduce(0) { $0 + $1.requests }
            let test = Statistics.twoProportionTest(successes1: bucket.errors, total1: bucket.requests,
                                                    successes2: pooledErrors, total2: pooledRequests)
            if z >= settings.spikeZ && test.z > 0 && test.pValue < 0.001 { anomalous.append(index) }
        }
        var runs: [[Int]] = []
        for index in anomalous {
            if let last = runs.last?.last, index - last <= 2 { runs[runs.count - 1].append(index) } else { runs.append([index]) }
        }
        return runs.map { run in
            let first = run.first!, last = run.last!
            let history = buckets[max(0, first - 36)..<first].filter { $0.requests > 0 }
            let baseline = Statistics.median(history.map(\.rate))
            let during = buckets[first...last]
            let errors = during.reduce(0) { $0 + $1.errors }, requests = during.reduce(0) { $0 + $1.requests }
            let peak = during.max { $0.rate < $1.rate }!
            // Ongoing when the spike reaches the latest complete bucket.
            let ongoing = last >= buckets.count - 2
            let excess = Double(errors) - baseline * Double(requests)
            let severity = 0.5 * min(1, (peak.rate - baseline) / 0.5) + 0.3 * min(1, log10(1 + max(0, excess)) / 3) + 0.2 * (ongoing ? 1 : 0.5)
            var evidence = JSONWriter()
            evidence.raw("{")
            evidence.member("baseline_rate", rounded(baseline, 4))
            evidence.member("peak_rate", rounded(peak.rate, 4))
            evidence.member("errors", errors)
            evidence.member("requests", requests)
            evidence.member("bucket_seconds", settings.errorBucket / UnixTime.second)
            evidence.raw(#","series":["#)
            for (offset, bucket) in buckets[max(0, first - 12)...min(buckets.count - 1, last + 6)].enumerated() {
                if offset > 0 { evidence.raw(",") }
                evidence.raw("[")
                evidence.time(bucket.start)
                evidence.raw(",")
                evidence.int(Int64(bucket.requests))
                evidence.raw(",")
                evidence.int(Int64(bucket.errors))
                evidence.raw("]")
            }
            evidence.raw("]}")
            let start = buckets[first].start
            return DetectedPattern(
                type: .errorSpike, scope: scope, start: start, end: ongoing ? nil : buckets[last].start + settings.errorBucket,
                severity: rounded(min(1, severity), 3),
                description: "The error rate of \(describe(scope)) rose to \(percent(Double(errors) / Double(max(1, requests)))) "
                    + "(\(errors) of \(requests) requests) from a baseline of \(percent(baseline)), starting \(RFC3339.string(signed: start))"
                    + (ongoing ? ", and is still high." : "."),
                evidence: String(decoding: evidence.bytes, as: UTF8.self), suggestedActions: [], identity: "\(start)")
        }
    }

    // MARK: - latency_degradation

    struct LatencyBucket {
        var start: Int64
        var requests: Int
        var p95Milliseconds: Double
        var inputTokensPerRequest: Double
    }

    /// A sustained rise of p95: a Mann–Kendall trend (one-sided p < 0.01) whose late quarter
    /// sits `latencyIncrease` times above its early quarter; it starts at the CUSUM change point.
    static func latencyDegradation(scope: [(String, String)], buckets all: [LatencyBucket], settings: PatternSettings) -> DetectedPattern? {
        let buckets = all.filter { $0.requests >= settings.minLatencyRequests }
        guard buckets.count >= 8 else { return nil }
        let series = buckets.map(\.p95Milliseconds)
        let trend = Statistics.mannKendall(series)
        let quarter = max(2, series.count / 4)
        let before = Statistics.median(Array(series.prefix(quarter))), after = Statistics.median(Array(series.suffix(quarter)))
        guard trend.pValue < 0.01, before > 0, after >= settings.latencyIncrease * before else { return nil }
        let change = Statistics.cusumChangePoint(series) ?? 0
        let slope = Statistics.theilSenSlope(series) * Double(UnixTime.hour) / Double(settings.latencyBucket)
        let ratio = after / before
        let severity = 0.7 * min(1, (ratio - 1) / 2) + 0.3 * min(1, -log10(max(trend.pValue, 1e-12)) / 12)
        let tokensBefore = Statistics.median(buckets.prefix(quarter).map(\.inputTokensPerRequest))
        let tokensAfter = Statistics.median(buckets.suffix(quarter).map(\.inputTokensPerRequest))
        var evidence = JSONWriter()
        evidence.raw("{")
        evidence.member("p95_before_ms", rounded(before, 1))
        evidence.member("p95_after_ms", rounded(after, 1))
        evidence.member("slope_ms_per_hour", rounded(slope, 2))
        evidence.member("mann_kendall_p", trend.pValue)
        evidence.member("input_tokens_before", rounded(tokensBefore, 1))
        evidence.member("input_tokens_after", rounded(tokensAfter, 1))
        evidence.raw(#","series":["#)
        for (offset, bucket) in buckets.enumerated() {
            if offset > 0 { evidence.raw(",") }
            evidence.raw("[")
            evidence.time(bucket.start)
            evidence.raw(",")
            evidence.double(rounded(bucket.p95Milliseconds, 1))
            evidence.raw(",")
            evidence.int(Int64(bucket.requests))
            evidence.raw("]")
        }
        evidence.raw("]}")
        var actions: [String] = []
        if tokensBefore > 0 && tokensAfter > 1.2 * tokensBefore {
            actions.append("Input tokens per request grew from \(Int(tokensBefore)) to \(Int(tokensAfter)): trim the prompt or the retrieved context.")
        }
        let start = buckets[change].start
        return DetectedPattern(
            type: .latencyDegradation, scope: scope, start: start, end: nil, severity: rounded(min(1, severity), 3),
            description: "p95 latency of \(describe(scope)) rose from \(milliseconds(before)) to \(milliseconds(after)) "
                + "(\(String(format: "%.1f", ratio))×) since \(RFC3339.string(signed: start)), a steady upward trend.",
            evidence: String(decoding: evidence.bytes, as: UTF8.self), suggestedActions: actions, identity: "")
    }

    // MARK: - cost_anomaly

    /// Spend of the last 24 hours against the key's own daily history (at least 3 days with
    /// spend): above both 3× the median day and median + 6 MAD; a key without history against
    /// its peers (at least 5): 10× their median. Either way at least `minCostUSD` above normal.
    static func costAnomaly(dimension: String, key: String, recentMicros: Int64, dailyHistoryMicros: [Int64],
                            peerMedianMicros: Double?, peers: Int, firstRecentHour: Int64, settings: PatternSettings) -> DetectedPattern? {
        let recent = Double(recentMicros) / 1e6
        let history = dailyHistoryMicros.filter { $0 > 0 }.map { Double($0) / 1e6 }
        let normal: Double, basis: String
        if history.count >= 3 {
            let median = Statistics.median(history), mad = Statistics.medianAbsoluteDeviation(history)
            guard recent > 3 * median, recent > median + 6 * 1.4826 * mad else { return nil }
            (normal, basis) = (median, "its median day of the previous \(dailyHistoryMicros.count) days")
        } else if let peerMedian = peerMedianMicros.map({ $0 / 1e6 }), peers >= 5 {
            guard recent > 10 * peerMedian else { return nil }
            (normal, basis) = (peerMedian, "the median of \(peers) other \(plural(dimension))")
        } else {
            return nil
        }
        guard recent - normal >= settings.minCostUSD else { return nil }
        let ratio = normal > 0 ? recent / normal : .infinity
        let severity = 0.6 * min(1, log10(max(1, ratio)) / 2) + 0.4 * min(1, log10(1 + recent - normal) / 3)
        var evidence = JSONWriter()
        evidence.raw("{")
        evidence.member("spend_24h_usd", rounded(recent, 4))
        evidence.member("normal_usd", rounded(normal, 4))
        evidence.member("basis", basis)
        evidence.raw(#","daily_history_usd":["#)
        for (index, day) in dailyHistoryMicros.enumerated() {
            if index > 0 { evidence.raw(",") }
            evidence.double(rounded(Double(day) / 1e6, 4))
        }
        evidence.raw("]}")
        let ratioText = ratio.isFinite ? "\(String(format: "%.1f", ratio))× " : ""
        return DetectedPattern(
            type: .costAnomaly, scope: [(dimension, key)], start: firstRecentHour, end: nil, severity: rounded(min(1, severity), 3),
            description: "\(dimension.capitalized) \(key) spent \(dollars(recent)) in the last 24 hours, \(ratioText)\(basis) (\(dollars(normal))).",
            evidence: String(decoding: evidence.bytes, as: UTF8.self), suggestedActions: [], identity: "")
    }

    // MARK: - temporal_pattern

    /// Errors concentrated at hours of the day: a chi-square test of the errors per hour (UTC)
    /// against the requests per hour (p < 1e-6, at least 30 errors), reporting the hours whose
    /// error rate is at least twice the overall one. Hours of a day are only a pattern when
    /// they recur: the data must cover at least 3 days.
    static func temporalPattern(scope: [(String, String)], requests: [Int], errors: [Int], days: Int, start: Int64) -> DetectedPattern? {
        let totalErrors = errors.reduce(0, +), totalRequests = requests.reduce(0, +)
        guard days >= 3, totalErrors >= 30, totalRequests > 0 else { return nil }
        let test = Statistics.chiSquareUniformity(observed: errors, expectedShares: requests.map(Double.init))
        let overall = Double(totalErrors) / Double(totalRequests)
        let hours = (0..<24).filter { requests[$0] > 0 && Double(errors[$0]) / Double(requests[$0]) >= 2 * overall && errors[$0] >= 3 }
        guard test.pValue < 1e-6, !hours.isEmpty, hours.count <= 12 else { return nil }
        let inHours = hours.reduce(0) { $0 + errors[$1] }
        let share = Double(inHours) / Double(totalErrors)
        let requestShare = Double(hours.reduce(0) { $0 + requests[$1] }) / Double(totalRequests)
        let severity = 0.6 * min(1, (share - requestShare) / 0.6) + 0.4 * min(1, log10(1 + Double(inHours)) / 3)
        var evidence = JSONWriter()
        evidence.raw(#"{"hours_utc":["#)
        for (index, hour) in hours.enumerated() {
            if index > 0 { evidence.raw(",") }
            evidence.int(Int64(hour))
        }
        evidence.raw(#"],"chi_square_p":"#)
        evidence.double(test.pValue)
        evidence.raw(#","by_hour":["#)
        for hour in 0..<24 {
            if hour > 0 { evidence.raw(",") }
            evidence.raw("[")
            evidence.int(Int64(hour))
            evidence.raw(",")
            evidence.int(Int64(requests[hour]))
            evidence.raw(",")
            evidence.int(Int64(errors[hour]))
            evidence.raw("]")
        }
        evidence.raw("]}")
        let hourText = hours.map { String(format: "%02d:00", $0) }.joined(separator: ", ")
        return DetectedPattern(
            type: .temporalPattern, scope: scope, start: start, end: nil, severity: rounded(min(1, severity), 3),
            description: "\(percent(share)) of the errors of \(describe(scope)) fall in the hours \(hourText) UTC, "
                + "which carry \(percent(requestShare)) of its requests.",
            evidence: String(decoding: evidence.bytes, as: UTF8.self),
            suggestedActions: ["Look for what runs at \(hourText) UTC: batch jobs, cron-driven traffic or a provider's peak hours.",
                               "Spread scheduled work away from those hours or add retries with backoff for them."],
            identity: hours.map(String.init).joined(separator: ","))
    }

    // MARK: - user_segment_issue

    struct UserCounts {
        var user: String
        var requests: Int
        var errors: Int
    }

    // MARK: - quality_drop

    struct VerdictCounts {
        var passed = 0
        var failed = 0
        var total: Int { passed + failed }
        var failRate: Double { total > 0 ? Double(failed) / Double(total) : 0 }
    }

    /// An evaluation failing significantly more in the recent window than before it: at least
    /// `minQualityVerdicts` verdicts on each side, a fail rate 10 points and 1.5× above the
    /// baseline's, and a one-sided two-proportion p below 0.01.
    static func qualityDrop(scope: [(String, String)], evaluation: String, recent: VerdictCounts, baseline: VerdictCounts,
                            firstRecentFailure: Int64, meanScores: (recent: Double?, baseline: Double?),
                            settings: PatternSettings) -> DetectedPattern? {
        guard recent.total >= settings.minQualityVerdicts, baseline.total >= settings.minQualityVerdicts else { return nil }
        let rise = recent.failRate - baseline.failRate
        guard rise >= 0.1, recent.failRate >= 1.5 * baseline.failRate else { return nil }
        let test = Statistics.twoProportionTest(successes1: recent.failed, total1: recent.total,
                                                successes2: baseline.failed, total2: baseline.total)
        guard test.z > 0, test.pValue / 2 < 0.01 else { return nil }
        let excess = Double(recent.failed) - baseline.failRate * Double(recent.total)
        let severity = 0.5 * min(1, rise / 0.5) + 0.3 * min(1, log10(1 + max(0, excess)) / 2) + 0.2
        var evidence = JSONWriter()
        evidence.raw("{")
        evidence.member("evaluation", evaluation)
        evidence.member("recent_fail_rate", rounded(recent.failRate, 4))
        evidence.member("baseline_fail_rate", rounded(baseline.failRate, 4))
        evidence.member("recent_verdicts", recent.total)
        evidence.member("baseline_verdicts", baseline.total)
        evidence.member("p_value", test.pValue / 2)
        for (key, value) in [(#","recent_mean_score":"#, meanScores.recent), (#","baseline_mean_score":"#, meanScores.baseline)] as [(StaticString, Double?)] {
            evidence.raw(key)
            if let value { evidence.double(rounded(value, 4)) } else { evidence.null() }
        }
        evidence.member("window_seconds", settings.qualityWindow / UnixTime.second)
        evidence.raw("}")
        let subject = describe(scope)
        return DetectedPattern(
            type: .qualityDrop, scope: scope, start: firstRecentFailure, end: nil, severity: min(1, severity),
            description: "Evaluation \(evaluation) fails \(percent(recent.failRate)) of the time in the last "
                + "\(settings.qualityWindow / UnixTime.minute) minutes (\(recent.failed) of \(recent.total)), against "
                + "\(percent(baseline.failRate)) before\(subject.isEmpty ? "" : " (\(subject))").",
            evidence: String(decoding: evidence.bytes, as: UTF8.self),
            suggestedActions: [
                "Open the failing evaluations: GET /api/v1/evaluations?name=\(evaluation)&passed=false.",
                "Check for prompt, model or retrieval changes around \(RFC3339.string(signed: firstRecentFailure)).",
                "Compare slices of the drop: GET /api/v1/rca/slices?metric=eval_fail_rate.",
            ],
            identity: evaluation)
    }

    /// Users whose error rate is significantly above everyone else's (two-proportion test,
    /// Benjamini–Hochberg q < 0.01, at least 20 requests and twice the overall rate), as one group.
    static func userSegment(scope: [(String, String)], users: [UserCounts], start: Int64) -> DetectedPattern? {
        let totalRequests = users.reduce(0) { $0 + $1.requests }, totalErrors = users.reduce(0) { $0 + $1.errors }
        guard totalRequests > 0 else { return nil }
        let overall = Double(totalErrors) / Double(totalRequests)
        let tested = users.filter { $0.requests >= 20 && $0.requests < totalRequests }
        let pValues = tested.map { user in
            let test = Statistics.twoProportionTest(successes1: user.errors, total1: user.requests,
                                                    successes2: totalErrors - user.errors, total2: totalRequests - user.requests)
            return test.z > 0 ? test.pValue : 1
        }
        let q = Statistics.benjaminiHochberg(pValues)
        let flagged = zip(tested, q).filter { user, q in q < 0.01 && Double(user.errors) / Double(user.requests) >= 2 * overall }.map(\.0)
        guard !flagged.isEmpty, flagged.count * 2 <= users.count else { return nil }
        let requests = flagged.reduce(0) { $0 + $1.requests }, errors = flagged.reduce(0) { $0 + $1.errors }
        let rest = Double(totalErrors - errors) / Double(max(1, totalRequests - requests))
        let rate = Double(errors) / Double(requests)
        let severity = 0.5 * min(1, (rate - rest) / 0.5) + 0.5 * min(1, log10(1 + Double(errors)) / 3)
        let names = flagged.map(\.user).sorted()
        var evidence = JSONWriter()
        evidence.raw("{")
        evidence.member("error_rate", rounded(rate, 4))
        evidence.member("other_users_error_rate", rounded(rest, 4))
        evidence.raw(#","users":["#)
        for (index, user) in flagged.sorted(by: { $0.user < $1.user }).enumerated() {
            if index > 0 { evidence.raw(",") }
            evidence.raw("{")
            evidence.member("user", user.user)
            evidence.member("requests", user.requests)
            evidence.member("errors", user.errors)
            evidence.raw("}")
        }
        evidence.raw("]}")
        let shown = names.prefix(5).joined(separator: ", ") + (names.count > 5 ? " and \(names.count - 5) more" : "")
        return DetectedPattern(
            type: .userSegmentIssue, scope: scope + [("users", names.joined(separator: ","))], start: start, end: nil,
            severity: rounded(min(1, severity), 3),
            description: "\(names.count == 1 ? "User" : "\(names.count) users") \(shown) failed \(percent(rate)) of "
                + "\(requests) requests, against \(percent(rest)) for the other users.",
            evidence: String(decoding: evidence.bytes, as: UTF8.self),
            suggestedActions: ["Compare what these users send (prompt size, language, feature) with the others: open their failing traces.",
                               "Check their plan, quota or API key: a per-user limit fails every request of a user at once."],
            identity: "")
    }

    // MARK: - Text

    static func describe(_ scope: [(String, String)]) -> String {
        scope.filter { !$0.1.isEmpty && $0.0 != "users" }.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
    }

    static func percent(_ share: Double) -> String {
        share < 0.1 ? String(format: "%.1f%%", share * 100) : String(format: "%.0f%%", share * 100)
    }

    static func milliseconds(_ value: Double) -> String {
        value >= 1_000 ? String(format: "%.2f s", value / 1_000) : String(format: "%.0f ms", value)
    }

    static func dollars(_ value: Double) -> String { String(format: "$%.2f", value) }

    static func plural(_ dimension: String) -> String { dimension + "s" }

    static func rounded(_ value: Double, _ digits: Int) -> Double {
        guard value.isFinite else { return 0 }
        let scale = pow(10, Double(digits))
        return (value * scale).rounded() / scale
    }
}
