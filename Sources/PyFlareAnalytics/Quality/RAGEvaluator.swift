import Foundation

/// One retrieval-augmented generation to evaluate: the user's query, the retrieved contexts
/// (in retrieval order) and the generated answer.
struct RAGCase: Sendable {
    var query: String
    var contexts: [String]
    var answer: String

    init(query: String, contexts: [String], answer: String) {
        self.query = query
        self.contexts = contexts
        self.answer = answer
    }
}

/// A claim of the answer: one sentence or independent clause.
struct RAGClaim: Sendable, Equatable {
    var text: String
    /// 0...1: the best weighted share of the claim's content words found in one context.
    var support: Double
    /// The index in `RAGCase.contexts` of the best supporting context; nil when none shares a word.
    var context: Int?
    /// `support >= RAGSettings.claimSupportThreshold`.
    var supported: Bool
}

/// The scores of one `RAGCase`, each in 0...1 with 1 = good.
struct RAGScores: Sendable, Equatable {
    /// How much of the retrieved context is about the query: the mean relevance of the contexts.
    var contextRelevance: Double
    /// The share of the answer's claims that some context supports.
    var faithfulness: Double
    /// How well the answer addresses the query.
    var answerRelevance: Double
    /// The share of the answer's content words found in the contexts (token-level support).
    var groundedness: Double
    /// The weighted mean of the four scores (weights in `RAGSettings`).
    var overall: Double
    var claims: [RAGClaim]
    /// Human-readable findings; contexts are numbered from 0, as in `RAGCase.contexts`.
    var issues: [String]
}

struct RAGSettings: Sendable {
    /// A claim is supported when its support reaches this.
    var claimSupportThreshold = 0.6
    /// A context whose relevance is below this is reported as unrelated to the query.
    var contextRelevanceThreshold = 0.2
    /// An answer whose relevance is below this is reported as not addressing the query. With
    /// the 0.2 floor of a non-empty answer, 0.3 flags answers sharing under 1/8 of the query's
    /// content words.
    var answerRelevanceThreshold = 0.3
    /// Added to a context's relevance per share of the query's word pairs it contains in order,
    /// so that "eiffel tower" as a phrase counts for more than both words apart.
    var bigramBonus = 0.1
    /// A refusal ("I don't know", "cannot answer") keeps this share of its answer relevance.
    var refusalFactor = 0.25
    /// Weights of `overall`. Faithfulness weighs most: an invented claim is the failure a RAG
    /// evaluation exists to catch.
    var faithfulnessWeight = 0.4
    var groundednessWeight = 0.2
    var answerRelevanceWeight = 0.2
    var contextRelevanceWeight = 0.2
}

/// A deterministic, lexical RAG evaluator: no model, only word overlap between the query, the
/// contexts and the answer, so it is cheap enough to run on every trace and its scores can be
/// explained word by word. It cannot see paraphrase with other words or negation; an LLM judge
/// (`JudgeTemplates`) is the tool for those.
///
/// Words are lowercased, split on anything but letters and digits (a decimal point between
/// digits stays, so "3.5" is one word), stripped of English stopwords and lightly stemmed
/// ("towers" and "tower" match). Any word with a digit counts as a number.
///
/// - Claims: the answer is split into lines (list markers dropped), the lines into sentences
///   at ".", "!" or "?" followed by a space or the end (not after abbreviations such as "e.g."
///   or "Dr."), and a sentence at "; ", ", and" or " and " when both sides keep at least 3
///   content words (the mark of an independent clause, short of parsing). A claim without
///   content words is skipped.
/// - Support of a claim by a context: the weighted share of the claim's words found in the
///   context, numbers and capitalized words (proper nouns; not the claim's first word) weighing
///   2, the others 1; then multiplied by the share of the claim's numbers found, because a
///   number is a fact on its own: "1890" where the context says "1889" makes the claim
///   unsupported however many other words match. A claim's support is its best context's.
/// - Faithfulness: supported claims / claims.
/// - Context relevance: the mean over contexts of the share of the query's content words in
///   the context, plus `bigramBonus` × the share of the query's adjacent word pairs, capped at 1.
/// - Answer relevance: 0.2 for a non-empty answer + 0.8 × the share of the query's content
///   words in the answer, times `refusalFactor` for a refusal.
/// - Groundedness: the share of the answer's content-word occurrences found in any context.
///
/// Edge cases: without contexts, context relevance, faithfulness and groundedness are 0 (issue
/// "no contexts retrieved"); an empty answer scores 0 for answer relevance, faithfulness and
/// groundedness (issue "empty answer"), since an answer that says nothing is no success; a
/// non-empty answer without content words ("Yes.") claims nothing, so it is faithful and
/// grounded (1); a query without content words gives both relevances 0.
enum RAGEvaluator {
    static func evaluate(_ rag: RAGCase, settings: RAGSettings = RAGSettings()) -> RAGScores {
        var issues: [String] = []
        let query = RAGText.contentWords(rag.query).map(\.stem)
        let queryWords = Set(query)
        let queryPairs = Set(RAGText.pairs(query))
        if queryWords.isEmpty { issues.append("query has no content words") }

        // Each context is tokenized once; blank contexts still count (they retrieved nothing useful).
        let contexts = rag.contexts.map { text in
            let words = RAGText.contentWords(text).map(\.stem)
            return (words: Set(words), pairs: Set(RAGText.pairs(words)))
        }
        let noContexts = rag.contexts.allSatisfy { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
        if noContexts { issues.append("no contexts retrieved") }

        // Context relevance
        var contextRelevance = 0.0
        if !noContexts && !queryWords.isEmpty {
            var total = 0.0
            for (index, context) in contexts.enumerated() {
                let coverage = Double(queryWords.intersection(context.words).count) / Double(queryWords.count)
                let phrases = queryPairs.isEmpty ? 0 : Double(queryPairs.intersection(context.pairs).count) / Double(queryPairs.count)
                let relevance = min(1, coverage + settings.bigramBonus * phrases)
                if relevance < settings.contextRelevanceThreshold { issues.append("context \(index) is unrelated to the query") }
                total += relevance
            }
            contextRelevance = total / Double(contexts.count)
        }

        let answerText = rag.answer.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !answerText.isEmpty else {
            issues.append("empty answer")
            return scores(contextRelevance: contextRelevance, faithfulness: 0, answerRelevance: 0, groundedness: 0,
                          claims: [], issues: issues, settings: settings)
        }

        // Answer relevance
        let answerWords = RAGText.contentWords(answerText).map(\.stem)
        var answerRelevance = 0.0
        if !queryWords.isEmpty {
            let coverage = Double(queryWords.intersection(answerWords).count) / Double(queryWords.count)
            answerRelevance = 0.2 + 0.8 * coverage
        }
        if RAGText.isRefusal(answerText) {
            answerRelevance *= settings.refusalFactor
            issues.append("answer is a refusal")
        } else if !queryWords.isEmpty && answerRelevance < settings.answerRelevanceThreshold {
            issues.append("answer does not address the query")
        }

        // Claims and faithfulness
        var claims: [RAGClaim] = []
        for text in RAGText.claims(answerText) {
            let (support, context) = noContexts ? (0, nil) : bestSupport(of: text, in: contexts.map(\.words))
            let supported = support >= settings.claimSupportThreshold
            claims.append(RAGClaim(text: text, support: support, context: context, supported: supported))
            // Without contexts every claim is unsupported; "no contexts retrieved" says why once.
            if !supported && !noContexts { issues.append("claim not supported by any context: \"\(text)\"") }
        }
        var faithfulness = claims.isEmpty ? 1 : Double(claims.count { $0.supported }) / Double(claims.count)

        // Groundedness
        var groundedness = 1.0
        if !answerWords.isEmpty {
            let everyContext = contexts.reduce(into: Set<String>()) { $0.formUnion($1.words) }
            groundedness = Double(answerWords.count { everyContext.contains($0) }) / Double(answerWords.count)
        }
        if noContexts { (faithfulness, groundedness) = (0, 0) }

        return scores(contextRelevance: contextRelevance, faithfulness: faithfulness, answerRelevance: answerRelevance,
                      groundedness: groundedness, claims: claims, issues: issues, settings: settings)
    }

    /// The best support of a claim over the contexts and the index of that context (the first
    /// one on ties; nil when the support is 0).
    static func bestSupport(of claim: String, in contexts: [Set<String>]) -> (support: Double, context: Int?) {
        // Each distinct word once, with its largest weight; integer weights keep the sums exact
        // whatever the order of iteration, so the scores are deterministic.
        var weights: [String: Int] = [:]
        for word in RAGText.contentWords(claim) {
            let weight = word.isNumber || (word.isCapitalized && word.position > 0) ? 2 : 1
            weights[word.stem] = max(weights[word.stem] ?? 0, weight)
        }
        let total = weights.values.reduce(0, +)
        let numbers = weights.keys.filter(RAGText.isNumber)
        guard total > 0 else { return (0, nil) }
        var best: (support: Double, context: Int?) = (0, nil)
        for (index, context) in contexts.enumerated() {
            let found = weights.reduce(0) { $0 + (context.contains($1.key) ? $1.value : 0) }
            var support = Double(found) / Double(total)
            if !numbers.isEmpty { support *= Double(numbers.count { context.contains($0) }) / Double(numbers.count) }
            if support > best.support { best = (support, index) }
        }
        return best
    }

    private static func scores(contextRelevance: Double, faithfulness: Double, answerRelevance: Double, groundedness: Double,
                               claims: [RAGClaim], issues: [String], settings: RAGSettings) -> RAGScores {
        let weights = settings.contextRelevanceWeight + settings.faithfulnessWeight + settings.answerRelevanceWeight + settings.groundednessWeight
        let weighted = settings.contextRelevanceWeight * contextRelevance + settings.faithfulnessWeight * faithfulness
            + settings.answerRelevanceWeight * answerRelevance + settings.groundednessWeight * groundedness
        return RAGScores(contextRelevance: contextRelevance, faithfulness: faithfulness, answerRelevance: answerRelevance,
                         groundedness: groundedness, overall: weights > 0 ? weighted / weights : 0,
                         claims: claims, issues: issues)
    }
}

/// The text processing of `RAGEvaluator`: words, stems, stopwords, claims.
enum RAGText {
    struct Word: Equatable {
        var stem: String
        var isNumber: Bool
        /// The word starts with a capital letter in the original text.
        var isCapitalized: Bool
        /// The index among all words of the text, stopwords included, so that position 0 is
        /// the first word whose capital says nothing about being a name.
        var position: Int
    }

    /// The content words of `text`, in order: stemmed, stopwords and single letters dropped.
    static func contentWords(_ text: String) -> [Word] {
        var result: [Word] = []
        for (position, raw) in words(text).enumerated() {
            let lower = raw.lowercased()
            let number = isNumber(lower)
            if !number && (lower.count < 2 || stopwords.contains(lower)) { continue }
            result.append(Word(stem: number ? lower : stem(lower), isNumber: number,
                               isCapitalized: raw.first?.isUppercase ?? false, position: position))
        }
        return result
    }

    /// The words of `text` as written: runs of letters and digits, a "." between digits included.
    static func words(_ text: String) -> [String] {
        let characters = Array(text)
        var words: [String] = []
        var current = ""
        for (index, character) in characters.enumerated() {
            if character.isLetter || character.isNumber {
                current.append(character)
            } else if character == ".", current.last?.isNumber == true,
                      index + 1 < characters.count, characters[index + 1].isNumber {
                current.append(character)
            } else if !current.isEmpty {
                words.append(current)
                current = ""
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }

    static func isNumber(_ word: String) -> Bool {
        word.contains { $0.isNumber }
    }

    /// Adjacent pairs of words, as "a b".
    static func pairs(_ words: [String]) -> [String] {
        zip(words, words.dropFirst()).map { "\($0) \($1)" }
    }

    /// A light, conservative stemmer: the plural "s"/"es"/"ies", then "ing" or "ed" (a doubled
    /// final consonant undone), then a final "e", so that "towers"/"tower",
    /// "designed"/"design" and "completed"/"complete" meet. Short words, and endings such as
    /// "ss", "us", "is" (status, analysis, Paris) and "eed" (speed) stay. Stems need not be
    /// words; they only have to agree.
    static func stem(_ word: String) -> String {
        guard word.count > 3 else { return word }
        if word.hasSuffix("ss") || word.hasSuffix("us") || word.hasSuffix("is") { return word }
        var stem = word
        if word.hasSuffix("ies") && word.count > 4 {
            stem = String(word.dropLast(3)) + "y"
        } else if ["sses", "xes", "zes", "ches", "shes"].contains(where: { word.hasSuffix($0) }) {
            stem = String(word.dropLast(2))
        } else if word.hasSuffix("s") {
            stem = String(word.dropLast())
        }
        if !stem.hasSuffix("eed"), let base = strip(stem, suffix: "ing") ?? strip(stem, suffix: "ed") {
            stem = base
        }
        if stem.hasSuffix("e") && stem.count >= 4 { stem.removeLast() }
        return stem
    }

    /// `word` without `suffix` when at least 3 letters with a vowel remain, a doubled final
    /// consonant undone ("stopped" → "stop"; "called" keeps its "ll").
    private static func strip(_ word: String, suffix: String) -> String? {
        guard word.hasSuffix(suffix) else { return nil }
        var base = String(word.dropLast(suffix.count))
        guard base.count >= 3, base.contains(where: { "aeiouy".contains($0) }) else { return nil }
        let last = base.suffix(2)
        if last.count == 2, last.first == last.last, let final = last.last, !"aeioulsz".contains(final) { base.removeLast() }
        return base
    }

    /// English function words (after the NLTK list), plus the halves that contractions leave
    /// once split at the apostrophe ("don't" → "don" "t").
    static let stopwords: Set<String> = [
        "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any", "are", "as", "at",
        "be", "because", "been", "before", "being", "below", "between", "both", "but", "by",
        "can", "could", "did", "do", "does", "doing", "down", "during", "each", "either", "else", "etc", "ever", "every",
        "few", "for", "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself",
        "him", "himself", "his", "how", "however", "i", "if", "in", "into", "is", "it", "its", "itself", "just",
        "let", "may", "me", "might", "more", "most", "much", "must", "my", "myself", "neither", "no", "nor", "not", "now",
        "of", "off", "often", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own",
        "per", "please", "quite", "rather", "really", "same", "shall", "she", "should", "so", "some", "such",
        "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this",
        "those", "though", "through", "thus", "to", "too", "under", "until", "up", "upon", "us", "very",
        "was", "we", "were", "what", "whatever", "when", "where", "whether", "which", "while", "who", "whom",
        "whose", "why", "will", "with", "within", "without", "would", "yes", "yet", "you", "your", "yours", "yourself",
        "yourselves",
        "aren", "couldn", "didn", "doesn", "don", "hadn", "hasn", "haven", "isn", "ll", "mustn", "re", "shan",
        "shouldn", "ve", "wasn", "weren", "won", "wouldn",
    ]

    // MARK: Claims

    /// The claims of an answer (see `RAGEvaluator`), trimmed, those without content words dropped.
    static func claims(_ answer: String) -> [String] {
        answer.split(whereSeparator: \.isNewline)
            .flatMap { sentences(withoutListMarker(String($0))) }
            .flatMap(clauses)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !contentWords($0).isEmpty }
    }

    /// A line without its bullet ("-", "*", "•") or number ("1.", "2)") marker.
    static func withoutListMarker(_ line: String) -> String {
        let text = line.drop(while: \.isWhitespace)
        if let first = text.first, "-*•·–".contains(first), text.dropFirst().first?.isWhitespace == true {
            return String(text.dropFirst(2))
        }
        let digits = text.prefix(while: \.isNumber)
        let rest = text.dropFirst(digits.count)
        if !digits.isEmpty, let mark = rest.first, mark == "." || mark == ")", rest.dropFirst().first?.isWhitespace == true {
            return String(rest.dropFirst(2))
        }
        return String(text)
    }

    /// Abbreviations whose "." ends no sentence; letter-dot runs such as "e.g." and "U.S." are
    /// recognized by their shape.
    static let abbreviations: Set<String> = [
        "al", "approx", "ca", "cf", "co", "corp", "dept", "dr", "est", "etc", "fig", "inc", "jr", "ltd", "mr", "mrs",
        "ms", "mt", "no", "prof", "sr", "st", "vol", "vs",
    ]

    /// The sentences of a line: split after ".", "!" or "?" (and any closing quotes or brackets)
    /// followed by whitespace or the end, except after an abbreviation. A decimal point is
    /// followed by a digit, so it never splits.
    static func sentences(_ line: String) -> [String] {
        let characters = Array(line)
        var sentences: [String] = []
        var start = 0
        var index = 0
        while index < characters.count {
            guard ".!?".contains(characters[index]) else { index += 1; continue }
            var end = index + 1
            while end < characters.count, ".!?\"')]”’".contains(characters[end]) { end += 1 }
            let atBoundary = end == characters.count || characters[end].isWhitespace
            if atBoundary && !(characters[index] == "." && endsWithAbbreviation(characters[start..<index])) {
                sentences.append(String(characters[start..<end]))
                start = end
            }
            index = end
        }
        if start < characters.count { sentences.append(String(characters[start...])) }
        return sentences.filter { !$0.allSatisfy(\.isWhitespace) }
    }

    private static func endsWithAbbreviation(_ text: ArraySlice<Character>) -> Bool {
        let word = String(text.reversed().prefix { $0.isLetter || $0 == "." }.reversed()).lowercased()
        if abbreviations.contains(word) { return true }
        // "e.g", "i.e", "u.s": single letters between dots
        let parts = word.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count > 1 && parts.allSatisfy { $0.count == 1 }
    }

    /// The clauses of a sentence: split at "; ", ", and " or " and " when both sides keep at
    /// least 3 content words; shorter sides are more likely a list ("bread and butter") or a
    /// shared subject than a claim of their own.
    static func clauses(_ sentence: String) -> [String] {
        let characters = Array(sentence)
        let lower = characters.map { $0.isASCII ? Character($0.lowercased()) : $0 }
        var clauses: [String] = []
        var start = 0
        var index = 0
        while index < characters.count {
            let cut: (end: Int, next: Int)?
            if lower[index...].starts(with: "; ") {
                cut = (index, index + 2)
            } else if lower[index...].starts(with: ", and ") {
                cut = (index, index + 6)
            } else if lower[index...].starts(with: " and ") {
                cut = (index, index + 5)
            } else {
                cut = nil
            }
            guard let cut else { index += 1; continue }
            let left = String(characters[start..<cut.end])
            let right = String(characters[cut.next...])
            if contentWords(left).count >= 3 && contentWords(right).count >= 3 {
                clauses.append(left)
                start = cut.next
            }
            index = cut.next
        }
        clauses.append(String(characters[start...]))
        return clauses
    }

    // MARK: Refusals

    /// Phrases of an answer that declines to answer, matched in the lowercased answer with
    /// typographic apostrophes straightened.
    static let refusalPhrases = [
        "i don't know", "i do not know", "i'm not sure", "i am not sure", "cannot answer", "can't answer",
        "unable to answer", "not able to answer", "no information", "not enough information",
        "does not contain information", "doesn't contain information", "i cannot help", "i can't help",
    ]

    static func isRefusal(_ answer: String) -> Bool {
        let text = answer.lowercased().replacingOccurrences(of: "’", with: "'")
        return refusalPhrases.contains { text.contains($0) }
    }
}
