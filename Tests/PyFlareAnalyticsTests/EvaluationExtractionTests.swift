import Foundation
import Testing
import PyFlareWire
@testable import PyFlareAnalytics

/// Evaluation results read from telemetry, the texts evaluators read from spans, and the
/// quality-drop rule.
@Suite struct EvaluationExtractionTests {
    private func json(_ text: String) throws -> JSONValue { try JSONValue.parse(Array(text.utf8)) }
    private let subject = EvaluationSubject(traceID: "t", spanID: "s", service: "svc", model: "m", operation: "chat")

    @Test func spanEventsGiveResults() throws {
        let events = try json("""
            [{"time_unix_nano": 5, "name": "gen_ai.evaluation.result", "attributes": {"gen_ai.evaluation.name": "relevance",
              "gen_ai.evaluation.score.value": 0.25, "gen_ai.evaluation.score.label": "irrelevant", "gen_ai.evaluation.explanation": "off topic"}},
             {"time_unix_nano": 6, "name": "exception", "attributes": {}},
             {"time_unix_nano": 7, "name": "gen_ai.evaluation.result", "attributes": {"gen_ai.evaluation.score.value": 1}}]
            """)
        let records = EvaluationExtraction.fromEvents(events, time: 5, subject: subject, rules: EvaluationVerdictRules())
        #expect(records.count == 1)  // the third names no evaluation
        let record = try #require(records.first)
        #expect(record.name == "relevance" && record.score == 0.25 && record.label == "irrelevant")
        #expect(record.explanation == "off topic" && record.passed == false && record.source == .event)
        #expect(record.spanID == "s" && record.model == "m" && record.time == 5)
    }

    @Test func qualityAttributesGroupByName() throws {
        let attributes = try json("""
            {"pyflare.quality.faithfulness": 0.9, "pyflare.quality.toxicity.score": 0.7, "pyflare.quality.toxicity.explanation": "insult",
             "pyflare.quality.safe": true, "pyflare.quality.tone": "friendly", "gen_ai.request.model": "x", "pyflare.quality.": 1}
            """)
        let records = EvaluationExtraction.fromAttributes(attributes, time: 9, subject: subject, rules: EvaluationVerdictRules())
        #expect(records.map(\.name) == ["faithfulness", "toxicity", "safe", "tone"])
        #expect(records[0].score == 0.9 && records[0].passed == true)
        // Toxicity is better low: 0.7 fails.
        #expect(records[1].score == 0.7 && records[1].explanation == "insult" && records[1].passed == false)
        #expect(records[2].passed == true && records[2].label == "pass")
        #expect(records[3].label == "friendly" && records[3].passed == nil)
        #expect(records.allSatisfy { $0.source == .attribute && $0.time == 9 })
    }

    @Test func verdictRules() {
        let rules = EvaluationVerdictRules(passThreshold: 0.5)
        #expect(rules.passed(name: "correctness", score: 0.5, label: nil) == true)
        #expect(rules.passed(name: "correctness", score: 0.49, label: nil) == false)
        #expect(rules.passed(name: "hallucination_check", score: 0.9, label: nil) == false)
        #expect(rules.passed(name: "correctness", score: 0.1, label: "PASS") == true)  // the label wins
        #expect(rules.passed(name: "x", score: nil, label: "maybe") == nil)
        #expect(rules.passed(name: "x", score: .nan, label: nil) == nil)
    }

    @Test func spanTextAcrossConventions() throws {
        let openInference = SpanText(try json("""
            {"input.value": "Who built it?", "retrieval.documents.1.document.content": "second",
             "retrieval.documents.0.document.content": "first", "output.value": "Eiffel"}
            """))
        #expect(openInference.input == "Who built it?" && openInference.output == "Eiffel")
        #expect(openInference.documents == ["first", "second"])
        let genAI = SpanText(try json(#"""
            {"gen_ai.input.messages": "[{\"role\":\"system\",\"parts\":[{\"type\":\"text\",\"content\":\"be brief\"}]},{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"content\":\"hi\"}]}]",
             "gen_ai.output.messages": "[{\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"content\":\"hello\"}]}]",
             "gen_ai.retrieval.documents": [{"id": "1", "content": "doc"}]}
            """#))
        #expect(genAI.input == "hi" && genAI.output == "hello" && genAI.documents == ["doc"])
        let openLLMetry = SpanText(try json("""
            {"gen_ai.prompt.0.role": "system", "gen_ai.prompt.0.content": "rules", "gen_ai.prompt.1.role": "user",
             "gen_ai.prompt.1.content": "question", "gen_ai.completion.0.content": "answer"}
            """))
        #expect(openLLMetry.input == "question" && openLLMetry.output == "answer")
    }

    @Test func qualityDropNeedsASignificantRise() {
        var settings = PatternSettings()
        settings.minQualityVerdicts = 10
        let baseline = PatternDetector.VerdictCounts(passed: 190, failed: 10)
        let drop = PatternDetector.qualityDrop(
            scope: [("model", "gpt-4o")], evaluation: "correctness", recent: .init(passed: 12, failed: 18), baseline: baseline,
            firstRecentFailure: 100, meanScores: (0.4, 0.9), settings: settings)
        #expect(drop?.type == .qualityDrop && drop?.start == 100)
        #expect((drop?.severity ?? 0) > 0.5 && drop?.description.contains("correctness") == true)
        // The same rate as before, or too few verdicts: nothing.
        #expect(PatternDetector.qualityDrop(scope: [], evaluation: "c", recent: .init(passed: 95, failed: 5), baseline: baseline,
                                            firstRecentFailure: 0, meanScores: (nil, nil), settings: settings) == nil)
        #expect(PatternDetector.qualityDrop(scope: [], evaluation: "c", recent: .init(passed: 1, failed: 5), baseline: baseline,
                                            firstRecentFailure: 0, meanScores: (nil, nil), settings: settings) == nil)
    }

    @Test func judgeSamplingIsStableAndNearTheRate() {
        var settings = JudgeSettings()
        settings.sampleRate = 0.25
        let ids = (0..<4_000).map { String(format: "%016llx", UInt64($0) &* 0x9E37_79B9_7F4A_7C15) }
        let sampled = ids.filter(settings.sampled).count
        #expect(abs(Double(sampled) / 4_000 - 0.25) < 0.03)
        #expect(ids.filter(settings.sampled) == ids.filter(settings.sampled))
        #expect(settings.chatCompletionsURL == nil)
        settings.endpoint = "http://localhost:9/v1/"
        #expect(settings.chatCompletionsURL == "http://localhost:9/v1/chat/completions")
    }
}
