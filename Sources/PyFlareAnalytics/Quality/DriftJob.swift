import Foundation
public import GRDB
public import PyFlareStore
public import PyFlareSQL
import PyFlareWire

/// Scores drift per scope (model or service) and feature for every complete window since its
/// last run (the last one again, for spans that arrived late), against each window's
/// reference: the scope's pinned range (`drift_references`), else the configured one.
public struct DriftJob: AnalyticsJob {
    public let name = "drift"
    public let schedule: JobSchedule
    public let outputTable: String? = "drift_scores"
    let settings: DriftSettings

    public init(schedule: JobSchedule = .every(seconds: 900), settings: DriftSettings) {
        self.schedule = schedule
        self.settings = settings
    }

    public func run(_ context: JobContext) async throws -> JobOutcome {
        let window = settings.window
        let lastEnd = TimeBucket.floor(context.now, window)
        let position = try await JobLedger(pool: context.pool).position(of: name)
        let earliest = lastEnd - Int64(settings.maxWindowsPerRun) * window
        let firstStart = max(earliest, (position.watermark ?? earliest) - window)
        guard firstStart < lastEnd else { return JobOutcome(rows: 0) }
        let computed = try await DriftComputation(settings: settings, engine: context.engine, limits: context.settings.jobLimits, pool: context.pool)
            .scores(from: firstStart, to: lastEnd, scope: nil)
        try await context.pool.write { db in
            try db.execute(sql: "DELETE FROM drift_scores WHERE scope_kind = ? AND window_start_ns >= ? AND window_start_ns < ?",
                           arguments: [settings.scopeBy.rawValue, firstStart, lastEnd])
            let insert = try db.makeStatement(sql: """
                INSERT OR REPLACE INTO drift_scores (scope_kind, scope, feature, method, window_start_ns, window_end_ns,
                    reference_start_ns, reference_end_ns, score, p_value, severity, samples, reference_samples, details, computed_ns)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for score in computed {
                try insert.execute(arguments: [
                    settings.scopeBy.rawValue, score.scope, score.feature, score.method, score.window.lowerBound, score.window.upperBound,
                    score.reference.lowerBound, score.reference.upperBound, score.score.isFinite ? score.score : nil, score.pValue,
                    score.severity.rawValue, score.samples, score.referenceSamples, score.details, context.now,
                ])
            }
        }
        return JobOutcome(rows: computed.count, window: firstStart..<lastEnd,
                          position: JobLedger.Position(watermark: lastEnd, input: 0))
    }
}

/// Drift scores of consecutive windows, with the data each needs read once: the windows'
/// range, and the references (rolling ones as one range, pinned ones one by one).
public struct DriftComputation: Sendable {
    let settings: DriftSettings
    let engine: SQLEngine
    let limits: SQLLimits
    let pool: DatabasePool

    public init(settings: DriftSettings, engine: SQLEngine, limits: SQLLimits, pool: DatabasePool) {
        self.settings = settings
        self.engine = engine
        self.limits = limits
        self.pool = pool
    }

    /// Scores of the windows of `settings.window` (or `step`) from `start` to `end`, for one
    /// scope or all.
    func scores(from start: Int64, to end: Int64, step: Int64? = nil, scope: String?) async throws -> [DriftScore] {
        let step = step ?? settings.window
        let pinned = try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT scope, start_ns, end_ns FROM drift_references WHERE scope_kind = ?",
                             arguments: [settings.scopeBy.rawValue]).reduce(into: [String: Range<Int64>]()) { ranges, row in
                let low: Int64 = row[1], high: Int64 = row[2]
                if low < high { ranges[row[0]] = low..<high }
            }
        }
        let current = try await DriftData.load(start..<end, settings: settings, engine: engine, limits: limits)
        // One read covers every window's configured reference.
        let first = settings.referenceRange(windowEnd: start + step, pinned: nil)
        let last = settings.referenceRange(windowEnd: end, pinned: nil)
        let configuredRange = min(first.lowerBound, last.lowerBound)..<max(first.upperBound, last.upperBound)
        let configured = configuredRange == start..<end ? current
            : try await DriftData.load(configuredRange, settings: settings, engine: engine, limits: limits)
        var pinnedData: [String: DriftData] = [:]
        for (name, range) in pinned where scope == nil || scope == name {
            pinnedData[name] = try await DriftData.load(range, settings: settings, engine: engine, limits: limits)
        }
        let analyzer = DriftAnalyzer(settings: settings)
        let scopes = scope.map { [$0] } ?? current.scopeNames.sorted()
        var scores: [DriftScore] = []
        var windowStart = start
        while windowStart < end {
            let window = windowStart..<min(end, windowStart + step)
            for name in scopes {
                let reference = settings.referenceRange(windowEnd: window.upperBound, pinned: pinned[name])
                scores += analyzer.scores(scope: name, window: window, current: current, reference: reference,
                                          referenceData: pinnedData[name] ?? configured)
            }
            windowStart = window.upperBound
        }
        return scores
    }
}

/// A features × windows matrix of drift scores, for a chart.
public struct DriftHeatmap: Sendable {
    /// Whole steps covering the range asked.
    public var range: Range<Int64>
    public var step: Int64
    public var features: [String]
    /// `scores[feature][window]`: PSI (MMD² for `embedding`), nil without enough spans.
    public var scores: [[Double?]]
    public var severities: [[String?]]

    public var windowCount: Int { Int((range.upperBound - range.lowerBound) / step) }
}

extension DriftComputation {
    public static let maxHeatmapWindows = 500

    /// The heatmap of one scope over `requested`, in windows of `step` aligned to it.
    public func heatmap(scope: String, range requested: Range<Int64>, step: Int64) async throws -> DriftHeatmap? {
        let range = TimeBucket.floor(requested.lowerBound, step)..<TimeBucket.ceil(requested.upperBound, step)
        guard (range.upperBound - range.lowerBound) / step <= Self.maxHeatmapWindows else { return nil }
        let scores = try await scores(from: range.lowerBound, to: range.upperBound, step: step, scope: scope)
        var map = DriftHeatmap(range: range, step: step, features: [], scores: [], severities: [])
        var rows: [String: Int] = [:]
        for score in scores {
            let row: Int
            if let known = rows[score.feature] {
                row = known
            } else {
                row = map.features.count
                rows[score.feature] = row
                map.features.append(score.feature)
                map.scores.append(Array(repeating: nil, count: map.windowCount))
                map.severities.append(Array(repeating: nil, count: map.windowCount))
            }
            let column = Int((score.window.lowerBound - range.lowerBound) / step)
            map.scores[row][column] = score.score.isFinite ? score.score : nil
            map.severities[row][column] = score.severity.rawValue
        }
        return map
    }
}
