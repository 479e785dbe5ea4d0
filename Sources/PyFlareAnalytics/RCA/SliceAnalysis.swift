import Foundation
public import GRDB
public import PyFlareStore
public import PyFlareSQL
import PyFlareWire

/// What slice analysis looks at (`rca.slices.*` in the config).
public struct SliceSettings: Sendable, Equatable {
    /// The range analysed by the scheduled job: the last `window` nanoseconds.
    public var window: Int64 = UnixTime.day
    /// A slice needs this many requests to be tested (and a pair needs both of its values to have it).
    public var minSupport = 30
    /// The false discovery rate of the Benjamini–Hochberg correction.
    public var falseDiscoveryRate = 0.05
    /// Which spans are requests (a SQL condition on `spans`): LLM calls unless configured.
    public var population = "model IS NOT NULL"
    /// Attribute keys naming the prompt template, the first present wins. None by default:
    /// reading a span attribute decodes every span's attributes (about 60 µs a request on the
    /// benchmark workload, against 2 µs for the promoted columns).
    public var promptTemplateKeys: [String] = []
    /// More attribute keys to slice by, each its own dimension named after the key.
    public var attributeKeys: [String] = []
    /// Continuous-metric slices screened per metric before their rank test.
    public var candidatesPerMetric = 300
    /// Results kept per metric.
    public var resultsPerMetric = 50
    /// A significant slice is reported only when its metric is at least this much (relative)
    /// above the rest: with a million requests a 1% difference is significant and of no use.
    public var minRelativeDeviation = 0.2

    public init() {}
}

/// One slice found: a set of dimension values whose metric departs from the rest.
public struct SliceFinding: Sendable, Equatable {
    public var definition: [(String, String)]
    public var metric: SliceMetric
    public var sampleCount: Int
    public var value: Double
    public var baseline: Double
    public var pValue: Double
    public var qValue: Double
    public var significant: Bool
    public var impact: Double

    public var deviation: Double { value - baseline }
    public var deviationPercentage: Double? { baseline != 0 ? deviation / baseline * 100 : nil }
    public var dimensions: String { definition.map(\.0).sorted().joined(separator: ",") }

    public static func == (a: SliceFinding, b: SliceFinding) -> Bool {
        a.definition.map(\.0) == b.definition.map(\.0) && a.definition.map(\.1) == b.definition.map(\.1)
            && a.metric == b.metric && a.sampleCount == b.sampleCount && a.value == b.value && a.baseline == b.baseline
    }
}

public enum SliceMetric: String, Sendable, CaseIterable {
    case errorRate = "error_rate"
    case latencyP50 = "latency_p50"
    case latencyP95 = "latency_p95"
    case latencyP99 = "latency_p99"
    case costPerRequest = "cost_per_request"
    case tokensPerRequest = "tokens_per_request"
    /// The share of evaluated requests with a failed evaluation (any source: events, annotations, RAG, judge).
    case evaluationFailRate = "eval_fail_rate"

    var quantile: Double? {
        switch self {
        case .latencyP50: 0.5
        case .latencyP95: 0.95
        case .latencyP99: 0.99
        default: nil
        }
    }

    /// What `impact_score` counts: excess errors, seconds, dollars or tokens over the slice's requests.
    public var impactUnit: String {
        switch self {
        case .errorRate: "errors"
        case .latencyP50, .latencyP95, .latencyP99: "seconds"
        case .costPerRequest: "usd"
        case .tokensPerRequest: "tokens"
        case .evaluationFailRate: "failed_evaluations"
        }
    }
}

/// Slice analysis in the spirit of SliceLine and SliceFinder: every value of every dimension
/// and every pair of values of two dimensions (pairs only of values with enough support, the
/// lattice's pruning) is compared with its complement. Error rates get a two-proportion z
/// test; latency, cost and tokens a Mann–Whitney rank test on log-spaced bins, after a
/// screen by mean difference. All p-values are corrected together (Benjamini–Hochberg).
/// The impact of a slice is its excess over the overall figure times its requests (excess
/// errors, seconds, dollars or tokens), so that a slice holding nearly everything, whose
/// complement is a small odd remainder, does not rank high.
/// A pair is reported only where it deviates clearly more than each of its values alone, and
/// a value whose excess a reported pair explains is left out, so a problem living in
/// `model=X ∧ feature=Y` shows as that pair.
public struct SliceAnalyzer: Sendable {
    public let settings: SliceSettings

    public init(settings: SliceSettings) {
        self.settings = settings
    }

    /// The dimension names, in column order after the fixed ones.
    var dimensionNames: [String] {
        ["model", "provider", "service", "operation", "user", "feature", "environment", "prompt_template",
         "input_length", "output_length", "latency_bucket", "hour_of_day", "day_of_week"] + settings.attributeKeys
    }

    static let fixedColumns = 7

    var statement: String { statement(outcome: "status = 'error'", join: "") }

    /// The statement of the evaluation pass: the evaluated requests, "failing" when one of
    /// their evaluations in the range failed.
    var evaluationStatement: String {
        statement(outcome: "quality.failed", join: """
             JOIN (SELECT span_id AS evaluated_span, max(passed = 0) AS failed FROM evaluations
                   WHERE time_ns >= :start AND time_ns < :end + \(UnixTime.hour) AND passed IS NOT NULL AND span_id IS NOT NULL
                   GROUP BY span_id) AS quality ON quality.evaluated_span = spans.span_id
            """)
    }

    func statement(outcome: String, join: String) -> String {
        let template = settings.promptTemplateKeys.isEmpty ? "NULL"
            : "substr(coalesce(" + (settings.promptTemplateKeys.map { "attr(attributes, \(sqlString($0)))" } + ["NULL"]).joined(separator: ", ") + "), 1, 120)"
        let custom = settings.attributeKeys.map { ", attr(attributes, \(sqlString($0)))" }.joined()
        return """
            SELECT model, provider, service, operation, user_id, feature, environment, \(template),
                   input_tokens, output_tokens, duration_ns, start_time_ns, \(outcome), cost_micros, total_tokens\(custom)
            FROM spans\(join) WHERE start_time_ns >= :start AND start_time_ns < :end AND (\(settings.population))
            """
    }

    private func sqlString(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }

    /// Reads the requests of `range` and analyses them; then, when the range has evaluation
    /// verdicts, the evaluated requests for `eval_fail_rate`.
    public func analyze(_ range: Range<Int64>, engine: SQLEngine, limits: SQLLimits, pool: DatabasePool? = nil) async throws -> [SliceFinding] {
        var findings = analyze(try await requests(range, statement: statement, engine: engine, limits: limits))
        let verdicts = try await pool?.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM evaluations WHERE time_ns >= ? AND time_ns < ? AND passed IS NOT NULL",
                             arguments: [range.lowerBound, range.upperBound]) ?? 0
        } ?? 0
        if verdicts >= 2 * settings.minSupport {
            let evaluated = try await requests(range, statement: evaluationStatement, engine: engine, limits: limits)
            findings += analyze(evaluated, binaryMetric: .evaluationFailRate)
        }
        return findings
    }

    func requests(_ range: Range<Int64>, statement: String, engine: SQLEngine, limits: SQLLimits) async throws -> SliceRequests {
        var requests = SliceRequests(dimensions: dimensionNames.count)
        var chunkStart = range.lowerBound
        while chunkStart < range.upperBound {
            let chunkEnd = min(range.upperBound, chunkStart + 6 * UnixTime.hour)
            let result = try await engine.run(statement, parameters: .named(["start": .integer(chunkStart), "end": .integer(chunkEnd)]),
                                              limits: limits)
            for row in result.rows { requests.append(row, customColumns: settings.attributeKeys.count) }
            chunkStart = chunkEnd
        }
        return requests
    }

    /// Findings of `requests`: the binary outcome (errors, or failed evaluations) of every
    /// slice, and for `errorRate` the latency, cost and token measures too.
    func analyze(_ requests: SliceRequests, binaryMetric: SliceMetric = .errorRate) -> [SliceFinding] {
        guard requests.count >= 2 * settings.minSupport else { return [] }
        let latencyDimension = dimensionNames.firstIndex(of: "latency_bucket")!
        let lengthDimensions = [dimensionNames.firstIndex(of: "input_length")!, dimensionNames.firstIndex(of: "output_length")!]
        // Slicing a measure by its own buckets says nothing: latency by latency, tokens and cost by length.
        func describes(_ measure: SliceMeasure, _ key: SliceKey) -> Bool {
            switch measure {
            case .latency: key.contains(dimension: latencyDimension)
            case .cost, .tokens: lengthDimensions.contains { key.contains(dimension: $0) }
            }
        }
        var slices = requests.sliceStatistics(minSupport: settings.minSupport)
        let total = requests.totals

        // Tests: every slice for the error rate, screened candidates for the rest.
        var tests: [(slice: Int, metric: SliceMetric, value: Double, baseline: Double, p: Double, impact: Double)] = []
        let baselineRate = Double(total.errors) / Double(total.count)
        for (index, slice) in slices.enumerated() where slice.count < total.count {
            let rest = total.count - slice.count, restErrors = total.errors - slice.errors
            let rate = Double(slice.errors) / Double(slice.count), restRate = Double(restErrors) / Double(rest)
            guard rate > restRate else { continue }
            let test = Statistics.twoProportionTest(successes1: slice.errors, total1: slice.count, successes2: restErrors, total2: rest)
            tests.append((index, binaryMetric, rate, restRate, test.pValue, (rate - baselineRate) * Double(slice.count)))
        }

        var candidates = Set<Int>()
        for measure in SliceMeasure.allCases where binaryMetric == .errorRate {
            let ranked = slices.indices.compactMap { index -> (Int, Double)? in
                let slice = slices[index]
                if describes(measure, slice.key) { return nil }
                let count = slice.measured(measure), restCount = total.measured(measure) - count
                guard count >= settings.minSupport, restCount >= settings.minSupport else { return nil }
                let mean = slice.sum(measure) / Double(count)
                let restMean = (total.sum(measure) - slice.sum(measure)) / Double(restCount)
                guard mean > restMean else { return nil }
                return (index, (mean - restMean) * Double(count))
            }.sorted { $0.1 > $1.1 }.prefix(settings.candidatesPerMetric)
            candidates.formUnion(ranked.map(\.0))
        }
        requests.fillDistributions(of: &slices, candidates: candidates)
        let whole = requests.wholeDistributions()
        func overallMean(_ measure: SliceMeasure) -> Double { measure.value(total.sum(measure) / Double(max(1, total.measured(measure)))) }
        for index in candidates.sorted() {
            let slice = slices[index]
            for measure in SliceMeasure.allCases {
                if describes(measure, slice.key) { continue }
                let mine = slice.distributions[measure.rawValue], rest = whole[measure.rawValue] - mine
                guard mine.total >= settings.minSupport, rest.total >= settings.minSupport else { continue }
                let test = Statistics.mannWhitney(mine, rest)
                guard test.probabilityAGreater > 0.5 else { continue }
                let count = Double(slice.measured(measure)), restCount = Double(total.measured(measure)) - count
                switch measure {
                case .latency:
                    for metric in [SliceMetric.latencyP50, .latencyP95, .latencyP99] {
                        let value = measure.value(mine.quantile(metric.quantile!, minimum: measure.minimum, growth: measure.growth))
                        let baseline = measure.value(rest.quantile(metric.quantile!, minimum: measure.minimum, growth: measure.growth))
                        guard value > baseline else { continue }
                        let overall = measure.value(whole[measure.rawValue].quantile(metric.quantile!, minimum: measure.minimum, growth: measure.growth))
                        tests.append((index, metric, value, baseline, test.pValue, (value - overall) * count))
                    }
                case .cost, .tokens:
                    let mean = measure.value(slice.sum(measure) / count)
                    let baseline = measure.value((total.sum(measure) - slice.sum(measure)) / restCount)
                    guard mean > baseline else { continue }
                    tests.append((index, measure == .cost ? .costPerRequest : .tokensPerRequest, mean, baseline, test.pValue,
                                  (mean - overallMean(measure)) * count))
                }
            }
        }

        let qValues = Statistics.benjaminiHochberg(tests.map(\.p))
        var byMetric: [SliceMetric: [Int: SliceFinding]] = [:]
        for (test, q) in zip(tests, qValues) {
            let key = slices[test.slice].key
            byMetric[test.metric, default: [:]][test.slice] = SliceFinding(
                definition: key.definition(names: dimensionNames, values: requests.values), metric: test.metric,
                sampleCount: slices[test.slice].count, value: test.value, baseline: test.baseline, pValue: test.p, qValue: q,
                significant: q < settings.falseDiscoveryRate, impact: test.impact)
        }
        var findings: [SliceFinding] = []
        for metric in SliceMetric.allCases {
            findings += prune(byMetric[metric] ?? [:], slices: slices).prefix(settings.resultsPerMetric)
        }
        return findings
    }

    /// Significant findings of one metric, most impact first, without the redundant ones: a
    /// pair must deviate 1.25 times more than each of its values alone; a value is dropped
    /// when one of its kept pairs carries 80% of its impact.
    func prune(_ findings: [Int: SliceFinding], slices: [SliceStatistics]) -> [SliceFinding] {
        let significant = findings.filter { _, finding in
            finding.significant && finding.deviation >= settings.minRelativeDeviation * max(finding.baseline, 1e-9)
                && ((finding.metric != .errorRate && finding.metric != .evaluationFailRate) || finding.deviation >= 0.01)
        }
        var singles: [SliceKey: Int] = [:]
        for (index, _) in significant where slices[index].key.isSingle { singles[slices[index].key] = index }
        var keptPairs: [Int] = []
        for (index, finding) in significant where !slices[index].key.isSingle {
            let parents = slices[index].key.parents
            let dominates = parents.allSatisfy { parent in
                guard let parentIndex = singles[parent], let parentFinding = significant[parentIndex] else { return true }
                return finding.deviation > 1.25 * parentFinding.deviation
            }
            if dominates { keptPairs.append(index) }
        }
        var dropped = Set<Int>()
        for pair in keptPairs {
            for parent in slices[pair].key.parents {
                if let parentIndex = singles[parent], significant[pair]!.impact >= 0.8 * significant[parentIndex]!.impact {
                    dropped.insert(parentIndex)
                }
            }
        }
        // Most impact first; among slices of the same requests (a user whose calls are exactly
        // the long prompts, say) the one of fewer and earlier dimensions speaks for all.
        let kept = (singles.values.filter { !dropped.contains($0) } + keptPairs).sorted { a, b in
            let (x, y) = (significant[a]!, significant[b]!)
            let (p, q) = (slices[a].key, slices[b].key)
            return (x.impact, y.definition.count, q.first, q.second) > (y.impact, x.definition.count, p.first, p.second)
        }
        var seen = Set<[Double]>()
        return kept.map { significant[$0]! }.filter { finding in
            seen.insert([Double(finding.sampleCount), finding.value, finding.baseline]).inserted
        }
    }
}

/// The measured quantities with a distribution: latency (milliseconds), cost (micro-dollars), tokens.
enum SliceMeasure: Int, CaseIterable {
    case latency, cost, tokens

    var bins: Int { 100 }
    var minimum: Double { 1 }
    var growth: Double {
        switch self {
        case .latency: 1.15  // 1 ms to 19 minutes
        case .cost: 1.25     // 1 micro-dollar to $4,000
        case .tokens: 1.2    // 1 to 69 million tokens
        }
    }

    /// From the stored unit to the reported one: seconds, dollars, tokens.
    func value(_ stored: Double) -> Double {
        switch self {
        case .latency: stored / 1_000
        case .cost: stored / 1_000_000
        case .tokens: stored
        }
    }
}

/// The scheduled slice analysis: the last `settings.window` analysed, its findings replacing
/// those of the previous run in `rca_slices`.
public struct SliceAnalysisJob: AnalyticsJob {
    public let name = "rca_slices"
    public let schedule: JobSchedule
    public let outputTable: String? = "rca_slices"
    let analyzer: SliceAnalyzer

    public init(schedule: JobSchedule = .every(seconds: 900), settings: SliceSettings) {
        self.schedule = schedule
        analyzer = SliceAnalyzer(settings: settings)
    }

    public func run(_ context: JobContext) async throws -> JobOutcome {
        let range = (context.now - analyzer.settings.window)..<context.now
        let findings = try await analyzer.analyze(range, engine: context.engine, limits: context.settings.jobLimits, pool: context.pool)
        try await context.pool.write { db in
            try db.execute(sql: "DELETE FROM rca_slices")
            let insert = try db.makeStatement(sql: """
                INSERT INTO rca_slices (analyzed_ns, window_start_ns, window_end_ns, metric, dimensions, definition, sample_count,
                    metric_value, baseline_value, deviation, deviation_pct, p_value, q_value, significant, impact_score)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for finding in findings {
                try insert.execute(arguments: [
                    context.now, range.lowerBound, range.upperBound, finding.metric.rawValue, finding.dimensions,
                    finding.definitionJSON, finding.sampleCount, finding.value, finding.baseline, finding.deviation,
                    finding.deviationPercentage, finding.pValue, finding.qValue, finding.significant, finding.impact,
                ])
            }
        }
        return JobOutcome(rows: findings.count, window: range)
    }
}

extension SliceFinding {
    /// `{"model": "gpt-4o", "feature": "chat"}`.
    public var definitionJSON: String {
        var json = JSONWriter()
        json.stringObject(definition)
        return String(decoding: json.bytes, as: UTF8.self)
    }
}
