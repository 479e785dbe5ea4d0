import Testing
@testable import PyFlareAnalytics

/// Reading LLM-judge replies as real models write them (fences, prose, key variants, scales,
/// truncation, no JSON at all) and filling the prompt templates.
@Suite struct JudgeVerdictTests {
    private func close(_ a: Double?, _ b: Double, _ tolerance: Double = 1e-12) -> Bool {
        a.map { abs($0 - b) <= tolerance } ?? false
    }

    // MARK: JSON replies

    @Test func fencedJSON() {
        let verdict = JudgeVerdict.parse("""
            ```json
            {"verdict": "pass", "score": 0.9, "explanation": "All claims are supported.",
             "hallucination": false, "factual_error": false, "contradiction": false, "unsupported_claims": []}
            ```
            """)
        #expect(verdict == JudgeVerdict(outcome: .pass, score: 0.9, explanation: "All claims are supported."))
    }

    @Test func jsonWithProseAround() {
        let verdict = JudgeVerdict.parse("""
            Let me check each claim against the context. The date matches {roughly}, but the name does not.
            {"Result": "Fail", "Reason": "The designer is wrong.", "Score": 0.2}
            I hope this helps!
            """)
        #expect(verdict.outcome == .fail)
        #expect(close(verdict.score, 0.2))
        #expect(verdict.explanation == "The designer is wrong.")
    }

    @Test func bracesInsideStrings() {
        let verdict = JudgeVerdict.parse(#"""
            {"verdict": "pass", "explanation": "The output {\"a\": 1} quotes the } context \\ exactly {"}
            """#)
        #expect(verdict.outcome == .pass)
        #expect(verdict.explanation == #"The output {"a": 1} quotes the } context \ exactly {"#)
    }

    @Test func failWithFlags() {
        let verdict = JudgeVerdict.parse("""
            {"VERDICT": "FAIL", "score": 0.1, "rationale": "Invents a date.",
             "has_hallucination": "yes", "factualError": true, "contradiction": "false",
             "unsupported_claims": ["The tower was built in 1650."]}
            """)
        #expect(verdict.outcome == .fail)
        #expect(verdict.hallucination && verdict.factualError && !verdict.contradiction && verdict.unsupportedClaim)
        #expect(verdict.unsupportedClaims == ["The tower was built in 1650."])
        #expect(verdict.explanation == "Invents a date.")
    }

    @Test func verdictVariants() {
        #expect(JudgeVerdict.parse(#"{"label": "PASS"}"#).outcome == .pass)
        #expect(JudgeVerdict.parse(#"{"decision": "yes"}"#).outcome == .pass)
        #expect(JudgeVerdict.parse(#"{"verdict": "No"}"#).outcome == .fail)
        #expect(JudgeVerdict.parse(#"{"verdict": "uncertain"}"#).outcome == .unsure)
        #expect(JudgeVerdict.parse(#"{"verdict": "Unknown"}"#).outcome == .unsure)
        #expect(JudgeVerdict.parse(#"{"verdict": true}"#).outcome == .pass)
        #expect(JudgeVerdict.parse(#"{"verdict": "PASS - every claim is supported"}"#).outcome == .pass)
        #expect(JudgeVerdict.parse(#"{"hallucinated": true}"#).outcome == .fail)
        // An explicit verdict wins over the score.
        #expect(JudgeVerdict.parse(#"{"verdict": "pass", "score": 0.3}"#).outcome == .pass)
        // Nested one level down.
        #expect(JudgeVerdict.parse(#"{"evaluation": {"verdict": "fail"}}"#).outcome == .fail)
    }

    @Test func scoreScales() {
        let tenScale = JudgeVerdict.parse(#"{"score": 8, "reasoning": "Mostly supported."}"#)
        #expect(tenScale.outcome == .pass && close(tenScale.score, 0.8))
        #expect(close(JudgeVerdict.parse(#"{"rating": 4, "max": 5}"#).score, 0.8))
        #expect(close(JudgeVerdict.parse(#"{"rating": 2, "scale": "1-5"}"#).score, 0.4))
        #expect(close(JudgeVerdict.parse(#"{"score": 35}"#).score, 0.35))
        #expect(close(JudgeVerdict.parse(#"{"score": "7/10"}"#).score, 0.7))
        #expect(close(JudgeVerdict.parse(#"{"score": "90%"}"#).score, 0.9))
        #expect(JudgeVerdict.parse(#"{"score": 0.3}"#).outcome == .fail)
        #expect(JudgeVerdict.parse(#"{"verdict": "pass", "score": 250}"#).score == nil)
        #expect(JudgeVerdict.parse(#"{"verdict": "pass", "score": true}"#).score == nil)
    }

    @Test func onlyFlags() {
        let failing = JudgeVerdict.parse(#"{"hallucination": false, "contradiction": ["says 1890, context 1889"]}"#)
        #expect(failing.outcome == .fail && failing.contradiction && !failing.hallucination)
        let passing = JudgeVerdict.parse(#"{"hallucination": false, "unsupported_claims": []}"#)
        #expect(passing.outcome == .pass && !passing.unsupportedClaim)
    }

    @Test func pairwise() {
        let a = JudgeVerdict.parse(#"{"preferred": "Response A", "score": 0.8, "explanation": "A is correct."}"#)
        #expect(a.outcome == .pass && a.preferred == "A")
        let b = JudgeVerdict.parse(#"{"winner": "[[B]]"}"#)
        #expect(b.outcome == .fail && b.preferred == "B")
        #expect(JudgeVerdict.parse(#"{"preferred": "tie", "verdict": "pass"}"#).preferred == "tie")
    }

    // MARK: Replies without JSON

    @Test func verdictWordWithoutJSON() {
        #expect(JudgeVerdict.parse("PASS\nThe response only restates the context.").outcome == .pass)
        #expect(JudgeVerdict.parse("After checking every claim: FAIL.").outcome == .fail)
        #expect(JudgeVerdict.parse("Verdict: pass").outcome == .pass)
        #expect(JudgeVerdict.parse("fail").outcome == .fail)
        // A lowercase "pass" in prose is not a verdict.
        #expect(JudgeVerdict.parse("I will pass on judging this one.").outcome == .error)
        #expect(JudgeVerdict.parse("It could PASS or FAIL depending on the context.").outcome == .error)
    }

    @Test func garbageIsAnError() {
        for reply in ["", "   ", "¯\\_(ツ)_/¯", "The response looks fine to me.", "{not json at all}", "[1, 2, 3]",
                      #"{"unrelated": 1}"#, #"{"verdict": "purple"}"#] {
            let verdict = JudgeVerdict.parse(reply)
            #expect(verdict.outcome == .error, "\(reply)")
            #expect(verdict.explanation?.isEmpty == false)
        }
        #expect(JudgeVerdict.parse(#"{"verdict": "purple"}"#).explanation == #"unrecognized verdict "purple""#)
    }

    @Test func truncatedJSONIsAnError() {
        let replies = [#"```json\n{"verdict": "pass", "score": 0."#, #"{"verdict": "pass", "explanation": "The } is"#, "{"]
        for reply in replies {
            let verdict = JudgeVerdict.parse(reply)
            #expect(verdict.outcome == .error)
            #expect(verdict.explanation == "truncated JSON object: no closing brace")
        }
    }

    // MARK: Templates

    @Test func rendering() {
        let template = "Q: {{input}} | A: {{ output }} | R: {{reference}} | {{  input}} | {{ not a name }} | {{unclosed"
        let rendered = JudgePrompt.render(template, values: ["input": "a {{output}} b", "output": "$1 \\n"])
        #expect(rendered == "Q: a {{output}} b | A: $1 \\n | R:  | a {{output}} b | {{ not a name }} | {{unclosed")
    }

    @Test func templatesHaveTheirPlaceholders() {
        let values = ["input": "INPUT-1", "context": "CONTEXT-2", "output": "OUTPUT-3", "reference": "REFERENCE-4",
                      "baseline": "BASELINE-5"]
        let cases = [
            (JudgeTemplates.hallucination, ["INPUT-1", "CONTEXT-2", "OUTPUT-3"]),
            (JudgeTemplates.reference, ["INPUT-1", "REFERENCE-4", "OUTPUT-3"]),
            (JudgeTemplates.pairwise, ["INPUT-1", "OUTPUT-3", "BASELINE-5"]),
        ]
        for (template, expected) in cases {
            let rendered = JudgePrompt.render(template, values: values)
            #expect(expected.allSatisfy { rendered.contains($0) })
            #expect(!rendered.contains("{{"))
            #expect(rendered.contains("\"verdict\""))
        }
        #expect(JudgeTemplates.pairwise.contains("\"preferred\""))
        #expect(JudgeTemplates.hallucination.contains("\"unsupported_claims\""))
    }
}
