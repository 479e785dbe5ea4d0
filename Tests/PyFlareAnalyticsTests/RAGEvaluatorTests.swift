import Testing
@testable import PyFlareAnalytics

/// The lexical RAG evaluator on hand-made cases whose right answers are obvious: a faithful
/// answer, an invented claim, a changed number, an unrelated context, an off-topic answer, and
/// the edge cases.
@Suite struct RAGEvaluatorTests {
    private let query = "Who designed the Eiffel Tower and when was it built?"
    private let contexts = [
        "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. "
            + "It is named after the engineer Gustave Eiffel, whose company designed and built the tower.",
        "Constructed from 1887 to 1889 as the centrepiece of the 1889 World's Fair, the tower was "
            + "initially criticised by some of France's leading artists. It is 330 metres tall.",
        "Bananas are rich in potassium and are a popular breakfast fruit.",
    ]
    private let faithful = "The Eiffel Tower in Paris was designed by the company of Gustave Eiffel. "
        + "It was built from 1887 to 1889 for the World's Fair. The towers are 330 metres tall."

    private func evaluate(_ answer: String, contexts: [String]? = nil, query: String? = nil) -> RAGScores {
        RAGEvaluator.evaluate(RAGCase(query: query ?? self.query, contexts: contexts ?? self.contexts, answer: answer))
    }

    @Test func faithfulAnswer() {
        let scores = evaluate(faithful)
        #expect(scores.claims.count == 3)
        #expect(scores.claims.allSatisfy { $0.supported && $0.support > 0.8 })
        #expect(scores.claims.map(\.context) == [0, 1, 1])
        #expect(scores.faithfulness == 1)
        #expect(scores.groundedness == 1)
        #expect(scores.answerRelevance > 0.7)
        #expect(!scores.issues.contains { $0.hasPrefix("claim") })
    }

    @Test func inventedClaimIsUnsupported() {
        let invented = "The tower was designed by Leonardo da Vinci in 1650."
        let scores = evaluate(faithful + " " + invented)
        #expect(scores.claims.count == 4)
        #expect(scores.faithfulness == 0.75)
        let claim = scores.claims.last!
        #expect(claim.text == invented && !claim.supported && claim.support < 0.3)
        #expect(scores.issues.contains("claim not supported by any context: \"\(invented)\""))
        #expect(scores.groundedness < 1)
        #expect(scores.overall < evaluate(faithful).overall)
    }

    @Test func inventedNameWeighsDouble() {
        // 3 of 5 words are in context 0 (tower, design, company): 0.6 unweighted, but the invented
        // names weigh 2 each: 3 / 7.
        let scores = evaluate("The tower was designed by the company of Pierre Dupont.")
        #expect(abs(scores.claims[0].support - 3.0 / 7.0) < 1e-12)
        #expect(!scores.claims[0].supported)
    }

    @Test func changedNumberIsCaught() {
        // Every other word matches context 1: without the number rule the support would be 6/9.
        let scores = evaluate("It was built from 1887 to 1890 for the World's Fair.")
        #expect(!scores.claims[0].supported)
        #expect(scores.claims[0].support < 0.5)
        #expect(evaluate("The tower is 324 metres tall.").claims[0].supported == false)
        #expect(evaluate("The tower is 330 metres tall.").claims[0].supported)
    }

    @Test func unrelatedContextIsFlagged() {
        let scores = evaluate(faithful)
        #expect(scores.issues.contains("context 2 is unrelated to the query"))
        #expect(!scores.issues.contains("context 0 is unrelated to the query"))
        #expect(!scores.issues.contains("context 1 is unrelated to the query"))
        let relevant = evaluate(faithful, contexts: [contexts[0]])
        #expect(relevant.contextRelevance == 1)
        #expect(scores.contextRelevance < 0.5)
    }

    @Test func offTopicAnswer() {
        let scores = evaluate("Bananas are rich in potassium.")
        #expect(scores.answerRelevance < 0.3)
        #expect(scores.issues.contains("answer does not address the query"))
        #expect(scores.faithfulness == 1)   // faithful to context 2, just not an answer
    }

    @Test func refusalLowersAnswerRelevance() {
        let scores = evaluate("I don't know who designed the Eiffel Tower or when it was built.")
        #expect(scores.answerRelevance <= 0.25)
        #expect(scores.issues.contains("answer is a refusal"))
    }

    @Test func noContexts() {
        let scores = evaluate(faithful, contexts: [])
        #expect(scores.contextRelevance == 0 && scores.faithfulness == 0 && scores.groundedness == 0)
        #expect(scores.issues == ["no contexts retrieved"])
        #expect(scores.claims.count == 3 && scores.claims.allSatisfy { !$0.supported && $0.context == nil })
        #expect(evaluate(faithful, contexts: ["  ", ""]).issues.contains("no contexts retrieved"))
    }

    @Test func emptyAnswer() {
        let scores = evaluate(" \n ")
        #expect(scores.answerRelevance == 0 && scores.faithfulness == 0 && scores.groundedness == 0)
        #expect(scores.claims.isEmpty)
        #expect(scores.issues.contains("empty answer"))
        #expect(scores.contextRelevance > 0)
    }

    @Test func overallIsTheWeightedMean() {
        let s = evaluate(faithful + " The tower was designed by Leonardo da Vinci in 1650.")
        let expected = 0.2 * s.contextRelevance + 0.4 * s.faithfulness + 0.2 * s.answerRelevance + 0.2 * s.groundedness
        #expect(abs(s.overall - expected) < 1e-12)
    }

    @Test func sentenceSplitting() {
        let claims = RAGText.claims("""
            Version 3.5 of the model is faster, e.g. on long prompts. Dr. Smith trained it in the U.S. last year!
            Is it open? Not yet public.
            - The weights are private
            2. The API costs 0.5 dollars per call
            """)
        #expect(claims == [
            "Version 3.5 of the model is faster, e.g. on long prompts.",
            "Dr. Smith trained it in the U.S. last year!",
            "Is it open?",
            "Not yet public.",
            "The weights are private",
            "The API costs 0.5 dollars per call",
        ])
        #expect(RAGText.words("Version 3.5, 1889.") == ["Version", "3.5", "1889"])
    }

    @Test func clauseSplitting() {
        // Both sides of "and" / ";" with at least 3 content words split; a short side does not.
        #expect(RAGText.claims("Gustave Eiffel designed the tower in Paris, and his company built the iron lattice.") == [
            "Gustave Eiffel designed the tower in Paris",
            "his company built the iron lattice.",
        ])
        #expect(RAGText.claims("The tower stands 330 metres tall; it draws seven million visitors yearly.").count == 2)
        #expect(RAGText.claims("The company designed and built the tower in Paris.").count == 1)
        // A line of stopwords only makes no claim.
        #expect(RAGText.claims("Yes, it is.\nThe tower is tall.") == ["The tower is tall."])
    }

    @Test func stemming() {
        #expect(RAGText.stem("towers") == RAGText.stem("tower"))
        #expect(RAGText.stem("designed") == RAGText.stem("design"))
        #expect(RAGText.stem("completed") == RAGText.stem("complete"))
        #expect(RAGText.stem("buildings") == RAGText.stem("building"))
        #expect(RAGText.stem("building") == "build")
        #expect(RAGText.stem("stopped") == "stop")
        #expect(RAGText.stem("cities") == RAGText.stem("city"))
        #expect(RAGText.stem("boxes") == "box")
        #expect(RAGText.stem("speeds") == RAGText.stem("speed"))
        #expect(RAGText.stem("paris") == "paris" && RAGText.stem("status") == "status" && RAGText.stem("class") == "class")
        #expect(RAGText.stem("string") == "string")
    }

    @Test func deterministic() {
        let answer = faithful + " The tower was designed by Leonardo da Vinci in 1650."
        #expect(evaluate(answer) == evaluate(answer))
    }
}
