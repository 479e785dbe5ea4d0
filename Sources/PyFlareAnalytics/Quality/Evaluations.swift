import Foundation
import GRDB
import PyFlareStore
import PyFlareSQL
import PyFlareWire

/// One evaluation result of a span, as `evaluations` holds it.
public struct EvaluationRecord: Sendable, Equatable {
    public enum Source: String, Sendable, CaseIterable {
        /// A `gen_ai.evaluation.result` span event.
        case event
        /// A `gen_ai.evaluation.result` log record (the event API of the OTel SDKs).
        case log
        /// `pyflare.quality.*` span attributes.
        case attribute
        /// Posted to `POST /v1/span_annotations` (OpenInference / Phoenix annotations).
        case annotation
        /// PyFlare's RAG evaluator.
        case rag
        /// PyFlare's LLM-as-judge.
        case judge
    }

    public var time: Int64
    public var name: String
    public var source: Source
    public var evaluator: String?
    public var traceID: String?
    public var spanID: String?
    public var service: String?
    public var model: String?
    public var operation: String?
    /// The judged span's feature (`app.feature` and its equivalents).
    public var feature: String?
    public var score: Double?
    public var label: String?
    public var explanation: String?
    public var passed: Bool?
    /// A JSON object, or nil.
    public var details: String?
    public var costMicros: Int64 = 0

    public init(time: Int64, name: String, source: Source, evaluator: String? = nil, traceID: String? = nil, spanID: String? = nil,
                service: String? = nil, model: String? = nil, operation: String? = nil, feature: String? = nil, score: Double? = nil,
                label: String? = nil, explanation: String? = nil, passed: Bool? = nil, details: String? = nil, costMicros: Int64 = 0) {
        self.time = time
        self.name = name
        self.source = source
        self.evaluator = evaluator
        self.traceID = traceID
        self.spanID = spanID
        self.service = service
        self.model = model
        self.operation = operation
        self.feature = feature
        self.score = score
        self.label = label
        self.explanation = explanation
        self.passed = passed
        self.details = details
        self.costMicros = costMicros
    }

    /// A result about `subject`, the span it judges.
    init(time: Int64, name: String, source: Source, evaluator: String? = nil, of subject: EvaluationSubject, score: Double? = nil,
         label: String? = nil, explanation: String? = nil, passed: Bool?, details: String? = nil, costMicros: Int64 = 0) {
        self.init(time: time, name: name, source: source, evaluator: evaluator, traceID: subject.traceID, spanID: subject.spanID,
                  service: subject.service, model: subject.model, operation: subject.operation, feature: subject.feature, score: score, label: label,
                  explanation: explanation, passed: passed, details: details, costMicros: costMicros)
    }

    static let insertSQL = """
        INSERT INTO evaluations (time_ns, name, source, evaluator, trace_id, span_id, service, model, operation, feature,
            score, label, explanation, passed, details, cost_micros, created_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    var arguments: StatementArguments {
        [time, name, source.rawValue, evaluator, traceID, spanID, service, model, operation, feature, score.flatMap { $0.isFinite ? $0 : nil },
         label, explanation, passed, details, costMicros, UnixTime.nowNanoseconds()]
    }

    /// Inserts `records` in the transaction of `db`.
    public static func insert(_ records: [EvaluationRecord], _ db: Database) throws {
        let statement = try db.makeStatement(sql: insertSQL)
        for record in records { try statement.execute(arguments: record.arguments) }
    }
}

/// How a result without an explicit verdict is judged good or bad: by its label's words, else
/// by its score against a threshold, in the direction its name implies ("hallucination" and
/// "toxicity" scores are better low).
public struct EvaluationVerdictRules: Sendable, Equatable {
    public var passThreshold: Double
    /// Name fragments of evaluations whose score measures a fault, so a high score fails.
    public var lowerIsBetter: [String]

    public init(passThreshold: Double = 0.5, lowerIsBetter: [String] = ["hallucination", "toxicity", "toxic", "bias", "harm", "pii", "jailbreak"]) {
        self.passThreshold = passThreshold
        self.lowerIsBetter = lowerIsBetter
    }

    static let passLabels: Set<String> = [
        "pass", "passed", "true", "yes", "correct", "good", "ok", "faithful", "relevant", "grounded", "factual",
        "safe", "non-toxic", "nontoxic", "not_hallucinated", "not hallucinated", "supported", "accurate", "helpful",
    ]
    static let failLabels: Set<String> = [
        "fail", "failed", "false", "no", "incorrect", "bad", "unfaithful", "irrelevant", "ungrounded", "hallucinated",
        "hallucination", "toxic", "unsafe", "unsupported", "inaccurate", "unhelpful", "factual_error", "contradiction",
    ]

    public func passed(name: String, score: Double?, label: String?) -> Bool? {
        if let label = label?.trimmingCharacters(in: .whitespaces).lowercased(), !label.isEmpty {
            if Self.passLabels.contains(label) { return true }
            if Self.failLabels.contains(label) { return false }
        }
        guard let score, score.isFinite else { return nil }
        let lowered = name.lowercased()
        return lowerIsBetter.contains(where: lowered.contains) ? score < passThreshold : score >= passThreshold
    }
}

/// Reads the evaluation results carried by telemetry.
enum EvaluationExtraction {
    static let eventName = "gen_ai.evaluation.result"
    static let qualityPrefix = "pyflare.quality."

    /// A result from the attributes of a `gen_ai.evaluation.result` event or log record; nil
    /// when it names no evaluation.
    static func result(_ attributes: JSONValue, time: Int64, source: EvaluationRecord.Source, subject: EvaluationSubject,
                       rules: EvaluationVerdictRules) -> EvaluationRecord? {
        guard let name = attributes["gen_ai.evaluation.name"]?.text, !name.isEmpty else { return nil }
        let score = attributes["gen_ai.evaluation.score.value"]?.numeric
        let label = attributes["gen_ai.evaluation.score.label"]?.text
        return EvaluationRecord(
            time: time, name: name, source: source, evaluator: attributes["gen_ai.evaluation.evaluator"]?.text, of: subject,
            score: score, label: label, explanation: attributes["gen_ai.evaluation.explanation"]?.text,
            passed: rules.passed(name: name, score: score, label: label))
    }

    /// The results of a span's events (a JSON array as `spans.events` holds them), placed at
    /// `time` (the span's start: the span carrying them decides which run's range they are in).
    static func fromEvents(_ events: JSONValue, time: Int64, subject: EvaluationSubject, rules: EvaluationVerdictRules) -> [EvaluationRecord] {
        guard case .array(let list) = events else { return [] }
        return list.compactMap { event in
            guard event["name"]?.text == eventName, let attributes = event["attributes"] else { return nil }
            return result(attributes, time: time, source: .event, subject: subject, rules: rules)
        }
    }

    /// The results of `pyflare.quality.*` attributes: `pyflare.quality.NAME` holds a score (a
    /// number), a verdict (a boolean) or a label (a string); `NAME.score`, `NAME.label`,
    /// `NAME.passed` and `NAME.explanation` fill the parts of one result.
    static func fromAttributes(_ attributes: JSONValue, time: Int64, subject: EvaluationSubject, rules: EvaluationVerdictRules) -> [EvaluationRecord] {
        guard case .object(let members) = attributes else { return [] }
        var order: [String] = []
        var parts: [String: (score: Double?, label: String?, passed: Bool?, explanation: String?)] = [:]
        for (key, value) in members where key.hasPrefix(qualityPrefix) {
            var name = String(key.dropFirst(qualityPrefix.count))
            var part = "value"
            for suffix in ["score", "label", "passed", "explanation"] where name.hasSuffix("." + suffix) {
                name = String(name.dropLast(suffix.count + 1))
                part = suffix
            }
            guard !name.isEmpty else { continue }
            if parts[name] == nil { order.append(name) }
            var entry = parts[name] ?? (nil, nil, nil, nil)
            switch (part, value) {
            case ("value", .bool(let flag)), ("passed", .bool(let flag)): entry.passed = flag
            case ("value", _) where value.numeric != nil, ("score", _): entry.score = value.numeric ?? entry.score
            case ("value", _), ("label", _): entry.label = value.text ?? entry.label
            case ("explanation", _): entry.explanation = value.text
            default: break
            }
            parts[name] = entry
        }
        return order.compactMap { name in
            guard let entry = parts[name], entry.score != nil || entry.label != nil || entry.passed != nil else { return nil }
            return EvaluationRecord(
                time: time, name: name, source: .attribute, of: subject, score: entry.score,
                label: entry.label ?? entry.passed.map { $0 ? "pass" : "fail" }, explanation: entry.explanation,
                passed: entry.passed ?? rules.passed(name: name, score: entry.score, label: entry.label))
        }
    }
}

extension EvaluationRecord {
    /// Replaces the rows of `sources` in `range`, a window at a time (what one run holds in
    /// memory), with what `compute` finds in each window; returns the rows written. The windows
    /// are an hour long, or with `density` hold a bounded number of the records it counts.
    static func replace(_ sources: [Source], in range: Range<Int64>, bounded density: DensityWindows? = nil, _ context: JobContext,
                        compute: (Range<Int64>) async throws -> [EvaluationRecord]) async throws -> Int {
        let names = sources.map { "'\($0.rawValue)'" }.joined(separator: ", ")
        var rows = 0
        func replaceWindow(_ window: Range<Int64>) async throws -> Int {
            let records = try await compute(window)
            try await context.pool.write { db in
                try db.execute(sql: "DELETE FROM evaluations WHERE time_ns >= ? AND time_ns < ? AND source IN (\(names))",
                               arguments: [window.lowerBound, window.upperBound])
                try insert(records, db)
            }
            rows += records.count
            return records.count
        }
        if let density {
            try await density.walk(range, context) { _ = try await replaceWindow($0) }
        } else {
            try await AdaptiveWindows(initial: UnixTime.hour, maximum: 31 * UnixTime.day).walk(range, replaceWindow)
        }
        return rows
    }
}

/// The span a result judges, as `evaluations` names it.
struct EvaluationSubject {
    var traceID: String?
    var spanID: String?
    var service: String?
    var model: String?
    var operation: String?
    var feature: String?
}

/// A span an evaluator reads: where it is, what it is, and its texts.
struct EvaluatedSpan {
    var traceID: String
    var spanID: String
    var start: Int64
    var service: String?
    var model: String?
    var operation: String?
    var feature: String?
    var kind: String?
    var text: SpanText

    var subject: EvaluationSubject {
        EvaluationSubject(traceID: traceID, spanID: spanID, service: service, model: model, operation: operation, feature: feature)
    }

    /// The spans of `kinds` (`ai_kind` values) starting in `range`, with their attributes read;
    /// only those of `traces` when given (the others' attributes are never decoded), and with
    /// `condition` (constant SQL on the row) only those it holds for, tested inside the
    /// statement so the rest never reach memory. The whole answer is held at once: callers
    /// bound `range` by what it holds (``DensityWindows``).
    static func read(_ range: Range<Int64>, kinds: [String], traces: Set<String>? = nil, condition: String? = nil,
                     _ context: JobContext) async throws -> [EvaluatedSpan] {
        let list = kinds.map { "'\($0)'" }.joined(separator: ", ")
        var parameters: [String: SQLValue] = ["start": .integer(range.lowerBound), "end": .integer(range.upperBound)]
        var traceFilter = ""
        if let condition { traceFilter += " AND \(condition)" }
        if let traces {
            var json = JSONWriter()
            json.strings(traces.sorted())
            parameters["traces"] = .text(String(decoding: json.bytes, as: UTF8.self))
            // `+trace_id`: not a constraint the table is asked to push down (it would scan once per
            // trace id), but a set SQLite builds once and checks row by row.
            traceFilter += " AND +trace_id IN (SELECT value FROM json_each(:traces))"
        }
        let result = try await context.engine.run("""
            SELECT trace_id, span_id, start_time_ns, service, model, operation, ai_kind, attributes, feature FROM spans
            WHERE start_time_ns >= :start AND start_time_ns < :end AND ai_kind IN (\(list))\(traceFilter)
            """, parameters: .named(parameters), limits: context.settings.jobLimits)
        return result.rows.compactMap { row in
            guard let traceID = row[0].string, let spanID = row[1].string, let text = SpanText(json: row[7].string) else { return nil }
            return EvaluatedSpan(traceID: traceID, spanID: spanID, start: row[2].integer ?? 0, service: row[3].string,
                                 model: row[4].string, operation: row[5].string, feature: row[8].string, kind: row[6].string, text: text)
        }
    }
}
