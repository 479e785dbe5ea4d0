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

    /// Windows of at most 5,000 retrievals that may carry document text: with their traces' LLM
    /// spans, tens of megabytes of attributes at once, where an hour of a burst (a million
    /// retrievals) took gigabytes. Retrievals without document text are not counted: where
    /// blocks are not ordered by time, every window reads every block, so windows only where
    /// there is something to score.
    static let windows = DensityWindows(counting: """
        SELECT start_time_ns AS t FROM spans
        WHERE ai_kind = 'retriever' AND start_time_ns >= :start AND start_time_ns < :end AND \(SpanText.documentTextCondition)
        """, budget: 5_000)

    public init(schedule: JobSchedule = .every(seconds: 300), rules: EvaluationVerdictRules = EvaluationVerdictRules()) {
        self.schedule = schedule
        self.rules = rules
        settings = RAGSettings()
    }

    public func run(_ context: JobContext) async throws -> JobOutcome {
        let (pending, position) = try await JobInput.pendingRecords([.spans], job: name, context)
        guard let pending else { return JobOutcome(rows: 0, position: position) }
        let rows = try await EvaluationRecord.replace([.rag], in: pending, bounded: Self.windows, context) { window in
            try await evaluations(in: window, context)
        }
        return JobOutcome(rows: rows, window: pending, position: position)
    }

    func evaluations(in window: Range<Int64>, _ context: JobContext) async throws -> [EvaluationRecord] {
        // Retrievals first: only their traces' answers are read (attributes are the costly part).
        // Only retrievals that carry document text can be scored.
        let retrievals = try await EvaluatedSpan.read(window, kinds: ["retriever"], condition: SpanText.documentTextCondition,
                                                      context).compactMap { span -> (RAGCase, EvaluatedSpan)? in
            let documents = span.text.documents
            guard !documents.isEmpty, let query = span.text.input else { return nil }
            return (RAGCase(query: query, contexts: documents, answer: span.text.output ?? ""), span)
        }
        guard !retrievals.isEmpty else { return [] }
        var answers: [String: [(span: EvaluatedSpan, text: String)]] = [:]
        for span in try await EvaluatedSpan.read(window.lowerBound..<(window.upperBound + Self.answerDelay), kinds: ["llm"],
                                                 traces: Set(retrievals.map(\.1.traceID)), context) {
            if let text = span.text.output { answers[span.traceID, default: []].append((span, text)) }
        }
        return retrievals.flatMap { retrieved -> [EvaluationRecord] in
            var (rag, answering) = retrieved
            let retrieval = retrieved.1
            if rag.answer.isEmpty {
                let next = answers[retrieval.traceID]?.filter { $0.span.start >= retrieval.start }.min { $0.span.start < $1.span.start }
                guard let next else { return [] }
                (answering, rag.answer) = (next.span, next.text)
            }
            let scores = RAGEvaluator.evaluate(rag, settings: settings)
            return Self.records(scores, time: retrieval.start, answer: answering, rules: rules)
        }
    }

    static func records(_ scores: RAGScores, time: Int64, answer: EvaluatedSpan, rules: EvaluationVerdictRules) -> [EvaluationRecord] {
        var details = JSONWriter()
        details.raw("{")
        details.member("issues", scores.issues)
        details.raw(#","claims":["#)
        for (index, claim) in scores.claims.enumerated() {
            if index > 0 { details.raw(",") }
            details.raw("{")
            details.member("text", claim.text)
            details.member("support", claim.support)
            details.member("supported", claim.supported)
            details.key("context")
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
                time: time, name: name, source: .rag, evaluator: "pyflare.rag", of: answer.subject, score: score,
                explanation: details == nil ? nil : scores.issues.joined(separator: "; "),
                passed: rules.passed(name: name, score: score, label: nil), details: details)
        }
    }
}
