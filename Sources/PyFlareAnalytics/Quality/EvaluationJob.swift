import Foundation
import GRDB
import PyFlareStore
import PyFlareSQL
import PyFlareWire

/// Reads the evaluation results that arrive with the telemetry into `evaluations`,
/// incrementally: `gen_ai.evaluation.result` span events and log records, and
/// `pyflare.quality.*` span attributes. Each run replaces the rows of those sources in the
/// time range whose spans or logs may have changed since the last run.
public struct EvaluationJob: AnalyticsJob {
    public let name = "evaluations"
    public let schedule: JobSchedule
    public let outputTable: String? = "evaluations"
    let rules: EvaluationVerdictRules

    static let sources: [EvaluationRecord.Source] = [.event, .log, .attribute]

    public init(schedule: JobSchedule = .every(seconds: 60), rules: EvaluationVerdictRules = EvaluationVerdictRules()) {
        self.schedule = schedule
        self.rules = rules
    }

    public func run(_ context: JobContext) async throws -> JobOutcome {
        let (pending, position) = try await JobInput.pendingRecords([.spans, .logs], job: name, context)
        guard let pending else { return JobOutcome(rows: 0, position: position) }
        let rows = try await EvaluationRecord.replace(Self.sources, in: pending, context) { window in
            try await results(in: window, context)
        }
        return JobOutcome(rows: rows, window: pending, position: position)
    }

    static let spansStatement = """
        SELECT start_time_ns, trace_id, span_id, service, model, operation, events, attributes, feature FROM spans
        WHERE start_time_ns >= :start AND start_time_ns < :end
          AND (instr(events, 'gen_ai.evaluation.result') > 0 OR instr(attributes, '"pyflare.quality.') > 0)
        """

    static let logsStatement = """
        SELECT \(LogTime.sql) AS at, trace_id, span_id, service, attributes
        FROM logs WHERE at >= :start AND at < :end
          AND (event_name = 'gen_ai.evaluation.result' OR attr(attributes, 'event.name') = 'gen_ai.evaluation.result')
        """

    func results(in window: Range<Int64>, _ context: JobContext) async throws -> [EvaluationRecord] {
        let bounds: SQLParameters = .named(["start": .integer(window.lowerBound), "end": .integer(window.upperBound)])
        var records: [EvaluationRecord] = []
        for row in try await context.engine.run(Self.spansStatement, parameters: bounds, limits: context.settings.jobLimits).rows {
            let time = row[0].integer ?? 0
            let subject = EvaluationSubject(traceID: row[1].string, spanID: row[2].string, service: row[3].string,
                                            model: row[4].string, operation: row[5].string, feature: row[8].string)
            if let events = row[6].string, events.contains(EvaluationExtraction.eventName),
               let parsed = try? JSONValue.parse(Array(events.utf8)) {
                records += EvaluationExtraction.fromEvents(parsed, time: time, subject: subject, rules: rules)
            }
            if let attributes = row[7].string, attributes.contains(EvaluationExtraction.qualityPrefix),
               let parsed = try? JSONValue.parse(Array(attributes.utf8)) {
                records += EvaluationExtraction.fromAttributes(parsed, time: time, subject: subject, rules: rules)
            }
        }
        for row in try await context.engine.run(Self.logsStatement, parameters: bounds, limits: context.settings.jobLimits).rows {
            guard let attributes = row[4].string, let parsed = try? JSONValue.parse(Array(attributes.utf8)) else { continue }
            let subject = EvaluationSubject(traceID: row[1].string, spanID: row[2].string, service: row[3].string)
            if let record = EvaluationExtraction.result(parsed, time: row[0].integer ?? 0, source: .log, subject: subject, rules: rules) {
                records.append(record)
            }
        }
        return records
    }
}
