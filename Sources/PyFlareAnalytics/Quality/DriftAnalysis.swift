import Foundation
import PyFlareStore
import PyFlareSQL
import PyFlareWire

/// Drift detection (`drift.*` in the config, docs/quality.md).
public struct DriftSettings: Sendable, Equatable {
    public enum ScopeKind: String, Sendable, CaseIterable {
        case model, service
    }

    public var scopeBy = ScopeKind.model
    public var window: Int64 = UnixTime.hour
    /// The rolling reference of a window: the `referenceLength` ending `referenceOffset`
    /// before the window's end (with 7d and the window's length: the same hours a week before).
    public var referenceOffset: Int64 = 7 * UnixTime.day
    public var referenceLength: Int64 = UnixTime.hour
    /// One fixed reference for every window instead, unless a scope has one pinned.
    public var fixedReferenceSince: Int64?
    public var fixedReferenceUntil: Int64?
    public var numericAttributes: [String] = []
    public var categoricalAttributes: [String] = []
    public var bins = 10
    public var minimumPerBin = 20
    public var epsilon = 1e-4
    /// Fewer spans than this on either side and a feature is not scored.
    public var minimumSamples = 50
    public var moderate = 0.1
    public var significant = 0.25
    public var embeddingKey = "pyflare.embedding.vector"
    public var permutations = 200
    public var seed: UInt64 = 42
    public var maxEmbeddingSamples = 500
    /// A fixed RBF bandwidth for MMD; nil for the median heuristic.
    public var bandwidth: Double?
    /// MMD drift is significant below this p-value, moderate below twice it.
    public var alpha = 0.05
    /// Windows a run catches up on at most (after downtime).
    public var maxWindowsPerRun = 24

    public init() {}

    /// The reference range of the window ending at `end`.
    func referenceRange(windowEnd end: Int64, pinned: Range<Int64>?) -> Range<Int64> {
        if let pinned { return pinned }
        if let fixed = fixedReference { return fixed }
        return (end - referenceOffset - referenceLength)..<(end - referenceOffset)
    }

    public var fixedReference: Range<Int64>? {
        guard let since = fixedReferenceSince, let until = fixedReferenceUntil, since < until else { return nil }
        return since..<until
    }
}

/// The features drift is measured on.
enum DriftFeature {
    static let numeric = ["input_tokens", "output_tokens", "latency_ms", "cost_usd"]
    static let categorical = ["model", "operation", "finish_reason"]
}

/// The spans of a time range, column by column, as drift reads them.
struct DriftData {
    var times: [Int64] = []
    /// Each scope's rows in time order, so a window's rows are found by binary search.
    private(set) var rowsByScope: [String: [Int]] = [:]
    var numeric: [String: [Double?]] = [:]
    var categorical: [String: [String?]] = [:]
    var embeddings: [[Double]?] = []

    static func statement(_ settings: DriftSettings) -> String {
        var columns = ["start_time_ns", settings.scopeBy == .model ? "model" : "service", "input_tokens", "output_tokens",
                       "duration_ns", "cost_micros", "model", "operation", "attr(attributes, 'gen_ai.response.finish_reasons')",
                       "attr(attributes, :embedding_key)"]
        for (index, _) in (settings.numericAttributes + settings.categoricalAttributes).enumerated() {
            columns.append("attr(attributes, :attribute\(index))")
        }
        return "SELECT " + columns.joined(separator: ", ")
            + " FROM spans WHERE start_time_ns >= :start AND start_time_ns < :end AND model IS NOT NULL"
    }

    static func load(_ range: Range<Int64>, settings: DriftSettings, engine: SQLEngine, limits: SQLLimits) async throws -> DriftData {
        var parameters: [String: SQLValue] = [
            "start": .integer(range.lowerBound), "end": .integer(range.upperBound), "embedding_key": .text(settings.embeddingKey),
        ]
        let attributes = settings.numericAttributes + settings.categoricalAttributes
        for (index, key) in attributes.enumerated() { parameters["attribute\(index)"] = .text(key) }
        let result = try await engine.run(statement(settings), parameters: .named(parameters), limits: limits)
        var data = DriftData()
        for name in DriftFeature.numeric + settings.numericAttributes { data.numeric[name] = [] }
        for name in DriftFeature.categorical + settings.categoricalAttributes { data.categorical[name] = [] }
        for row in result.rows {
            guard let scope = row[1].string else { continue }
            data.rowsByScope[scope, default: []].append(data.times.count)
            data.times.append(row[0].integer ?? 0)
            data.numeric["input_tokens"]!.append(row[2].integer.map(Double.init))
            data.numeric["output_tokens"]!.append(row[3].integer.map(Double.init))
            data.numeric["latency_ms"]!.append(row[4].integer.map { Double($0) / 1e6 })
            data.numeric["cost_usd"]!.append(row[5].integer.map { Double($0) / 1e6 })
            data.categorical["model"]!.append(row[6].string)
            data.categorical["operation"]!.append(row[7].string)
            data.categorical["finish_reason"]!.append(row[8].string.map(Self.firstOfArray))
            data.embeddings.append(row[9].string.flatMap(Self.vector))
            for (index, key) in attributes.enumerated() {
                let value = row[10 + index]
                if index < settings.numericAttributes.count {
                    data.numeric[key]!.append(value.real ?? value.integer.map(Double.init) ?? value.string.flatMap(Double.init))
                } else {
                    data.categorical[key]!.append(value.string ?? value.integer.map(String.init) ?? value.real.map { "\($0)" })
                }
            }
        }
        for (scope, rows) in data.rowsByScope {
            data.rowsByScope[scope] = rows.sorted { data.times[$0] < data.times[$1] }
        }
        return data
    }

    /// `["stop"]` → `stop`: a finish reason sent as an array counts by its first element.
    static func firstOfArray(_ text: String) -> String {
        guard text.hasPrefix("["), case .array(let items)? = try? JSONValue.parse(Array(text.utf8)) else { return text }
        return items.first?.text ?? ""
    }

    /// A JSON array of numbers (or a string holding one).
    static func vector(_ text: String) -> [Double]? {
        guard case .array(let items)? = try? JSONValue.parse(Array(text.utf8)) else { return nil }
        let values = items.compactMap(\.numeric)
        return values.count == items.count && !values.isEmpty ? values : nil
    }

    /// The rows of `scope` in `range`.
    func rows(scope: String, in range: Range<Int64>) -> ArraySlice<Int> {
        guard let rows = rowsByScope[scope] else { return [] }
        func firstAtOrAfter(_ time: Int64) -> Int {
            var low = 0, high = rows.count
            while low < high {
                let middle = (low + high) / 2
                if times[rows[middle]] < time { low = middle + 1 } else { high = middle }
            }
            return low
        }
        return rows[firstAtOrAfter(range.lowerBound)..<firstAtOrAfter(range.upperBound)]
    }

    var scopeNames: Dictionary<String, [Int]>.Keys { rowsByScope.keys }
}

/// One feature's drift in one scope and window.
struct DriftScore: Sendable {
    var scope: String
    var feature: String
    var method: String
    var window: Range<Int64>
    var reference: Range<Int64>
    var score: Double
    var pValue: Double?
    var severity: DriftSeverity
    var samples: Int
    var referenceSamples: Int
    /// A JSON object.
    var details: String
}

/// Drift of one window against its reference, feature by feature.
struct DriftAnalyzer {
    let settings: DriftSettings

    func scores(scope: String, window: Range<Int64>, current: DriftData, reference referenceRange: Range<Int64>,
                referenceData: DriftData) -> [DriftScore] {
        let now = current.rows(scope: scope, in: window)
        let then = referenceData.rows(scope: scope, in: referenceRange)
        guard now.count >= settings.minimumSamples, then.count >= settings.minimumSamples else { return [] }
        var scores: [DriftScore] = []
        func score(_ feature: String, method: String, _ value: Double, pValue: Double?, severity: DriftSeverity,
                   samples: Int, referenceSamples: Int, details: String) {
            scores.append(DriftScore(scope: scope, feature: feature, method: method, window: window, reference: referenceRange,
                                     score: value, pValue: pValue, severity: severity, samples: samples,
                                     referenceSamples: referenceSamples, details: details))
        }
        for feature in DriftFeature.numeric + settings.numericAttributes {
            let currentValues = now.compactMap { current.numeric[feature]?[$0] }
            let referenceValues = then.compactMap { referenceData.numeric[feature]?[$0] }
            guard currentValues.count >= settings.minimumSamples, referenceValues.count >= settings.minimumSamples else { continue }
            let psi = DriftStatistics.numericPSI(reference: referenceValues, current: currentValues, bins: settings.bins,
                                                 minimumPerBin: settings.minimumPerBin, epsilon: settings.epsilon)
            score(feature, method: "psi", psi.score, pValue: nil, severity: severity(psi.score), samples: currentValues.count,
                  referenceSamples: referenceValues.count, details: Self.details(psi))
        }
        for feature in DriftFeature.categorical + settings.categoricalAttributes {
            // The model mix of one model's scope says nothing.
            if feature == "model" && settings.scopeBy == .model { continue }
            var currentCounts: [String: Int] = [:], referenceCounts: [String: Int] = [:]
            for row in now { if let value = current.categorical[feature]?[row] { currentCounts[value, default: 0] += 1 } }
            for row in then { if let value = referenceData.categorical[feature]?[row] { referenceCounts[value, default: 0] += 1 } }
            let currentTotal = currentCounts.values.reduce(0, +), referenceTotal = referenceCounts.values.reduce(0, +)
            guard currentTotal >= settings.minimumSamples, referenceTotal >= settings.minimumSamples else { continue }
            let psi = DriftStatistics.categoricalPSI(reference: referenceCounts, current: currentCounts, epsilon: settings.epsilon)
            score(feature, method: "psi", psi.score, pValue: nil, severity: severity(psi.score), samples: currentTotal,
                  referenceSamples: referenceTotal, details: Self.details(psi))
        }
        let currentVectors = now.compactMap { current.embeddings[$0] }
        let referenceVectors = then.compactMap { referenceData.embeddings[$0] }
        if currentVectors.count >= 2, referenceVectors.count >= 2, let mmd = DriftStatistics.mmdTest(
            reference: referenceVectors, current: currentVectors, bandwidth: settings.bandwidth,
            permutations: settings.permutations, seed: settings.seed, maxSamples: settings.maxEmbeddingSamples) {
            let severity: DriftSeverity = mmd.pValue < settings.alpha ? .significant : mmd.pValue < 2 * settings.alpha ? .moderate : .none
            var json = JSONWriter()
            json.raw("{")
            json.member("bandwidth", mmd.bandwidth)
            json.member("centroid_shift", mmd.centroidShift)
            json.member("permutations", mmd.permutations)
            json.raw("}")
            score("embedding", method: "mmd", mmd.mmd2, pValue: mmd.pValue, severity: severity, samples: mmd.currentCount,
                  referenceSamples: mmd.referenceCount, details: String(decoding: json.bytes, as: UTF8.self))
        }
        return scores
    }

    func severity(_ psi: Double) -> DriftSeverity {
        DriftStatistics.severity(psi: psi, moderate: settings.moderate, significant: settings.significant)
    }

    static func details(_ psi: PSIResult) -> String {
        var json = JSONWriter()
        if psi.categories.isEmpty {
            json.raw("{")
            json.member("edges", psi.edges)
        } else {
            json.raw("{")
            json.member("categories", psi.categories)
        }
        json.member("reference_shares", psi.referenceShares)
        json.member("current_shares", psi.currentShares)
        json.raw("}")
        return String(decoding: json.bytes, as: UTF8.self)
    }
}
