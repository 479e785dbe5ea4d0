import Foundation
import GRDB
import PyFlareStore
import PyFlareWire

/// Scores retrieval-augmented answers with `RAGEvaluator`, incrementally: every retrieval in
/// the range whose spans may have changed since the last run is paired with the answer of its
/// trace, and its scores replace the `rag.*` evaluations of that range.
///
/// A case is a retriever span carrying a query, documents and an answer, or a retriever span
/// (query and documents) with the first LLM span of its trace that starts after it (the answer). The
/// scores are attached to the answering span, so they carry its model.
public struct RAGEvaluationJob: AnalyticsJob {
    public let name = "rag_evaluations"
    public let schedule: JobSchedule
    public let outputTable: String? = "evaluations"
    let rules: EvaluationVerdictRules
    let settings: RAGSettings

    /// How long after a retrieval its answer may start.
    static let answerDelay: Int64 = 5 * UnixTime.minute

    public init(schedule: JobSchedule = .every(seconds: 300), rules: EvaluationVerdictRules = EvaluationVerdictRules()) {
        self.schedule = schedule
        self.rules = rules
        settings = RAGSettings()
    }

    public func run(_ context: JobContext) async throws -> JobOutcome {
        let (pending, position) = try await JobInput.pendingRecords([.spans], job: name, context)
        guard let pending else { return JobOutcome(rows: 0, position: position) }
        let rows = try await EvaluationRecord.replace([.rag], in: pending, context) { window in
            try await evaluations(in: window, context)
        }
        return JobOutcome(rows: rows, window: pending, position: position)
    }

    func evaluations(in window: Range<Int64>, _ context: JobContext) async throws -> [EvaluationRecord] {
        // Retrievals first: only their traces' answers are read (attributes are the costly part).
        let retrievals = try await EvaluatedSpan.read(window, kinds: ["retriever"], context)
            .filter { !$0.text.documents.isEmpty && $0.text.input != nil }
        guard !retrievals.isEmpty else { return [] }
        var traces = Dictionary(grouping: retrievals, by: \.traceID)
        for span in try await EvaluatedSpan.read(window.lowerBound..<(window.upperBound + Self.answerDelay), kinds: ["llm"],
                                                 traces: Set(traces.keys), context) {
            traces[span.traceID, default: []].append(span)
        }
        var records: [EvaluationRecord] = []
        for spans in traces.values {
            let ordered = spans.sorted { $0.start < $1.start }
            for retrieval in ordered where retrieval.kind == "retriever" && window.contains(retrieval.start) {
                let documents = retrieval.text.documents
                guard !documents.isEmpty, let query = retrieval.text.input else { continue }
                let answering = retrieval.text.output.map { (retrieval, $0) }
                    ?? ordered.lazy.filter { $0.kind == "llm" && $0.start >= retrieval.start && $0.spanID != retrieval.spanID }
                        .compactMap { span in span.text.output.map { (span, $0) } }.first
                guard let (answerSpan, answer) = answering else { continue }
                let scores = RAGEvaluator.evaluate(RAGCase(query: query, contexts: documents, answer: answer), settings: settings)
                records += Self.records(scores, time: retrieval.start, answer: answerSpan, rules: rules)
            }
        }
        return records
    }

    static func records(_ scores: RAGScores, time: Int64, answer: EvaluatedSpan, rules: EvaluationVerdictRules) -> [EvaluationRecord] {
        var details = JSONWriter()
        details.raw(#"{"issues":"#)
        details.strings(scores.issues)
        details.raw(#","claims":["#)
        for (index, claim) in scores.claims.enumerated() {
            if index > 0 { details.raw(",") }
            details.raw(#"{"text":"#)
            details.string(claim.text)
            details.raw(#","support":"#)
            details.double(claim.support)
            details.raw(#","supported":"#)
            details.bool(claim.supported)
            details.raw(#","context":"#)
            if let context = claim.context { details.int(Int64(context)) } else { details.null() }
            details.raw("}")
        }
        details.raw("]}")
        let parts: [(String, Double, String?)] = [
            ("rag.context_relevance", scores.contextRelevance, nil),
            ("rag.faithfulness", scores.faithfulness, nil),
            ("rag.answer_relevance", scores.answerRelevance, nil),
            ("rag.groundedness", scores.groundedness, nil),
            ("rag.overall", scores.overall, String(decoding: details.bytes, as: UTF8.self)),
        ]
        return parts.map { name, score, details in
            EvaluationRecord(
                time: time, name: name, source: .rag, evaluator: "pyflare.rag", traceID: answer.traceID, spanID: answer.spanID,
                service: answer.service, model: answer.model, operation: answer.operation, score: score,
                explanation: details == nil ? nil : scores.issues.joined(separator: "; "),
                passed: rules.passed(name: name, score: score, label: nil), details: details)
        }
    }
}
