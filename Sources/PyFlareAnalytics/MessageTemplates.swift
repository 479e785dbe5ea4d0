/// Groups error messages by template, in the spirit of Drain (He et al., ICWS 2017): a
/// message's variable parts become wildcards, and a message joins the most similar template of
/// its length when enough of the template's fixed words match, turning the positions that
/// differ into wildcards.
///
/// Two choices differ from Drain as published, both measured on the Loghub 2k samples (mean
/// grouping accuracy 0.92 against Drain's 0.86 with per-dataset regular expressions; see
/// docs/benchmarks.md): variables are found by generic rules rather than per-system
/// expressions, and templates are not split by their first words (Drain's prefix tree), which
/// scattered messages starting with a variable word such as a job or host name.
public struct MessageTemplateMiner: Sendable {
    /// A template: words of the vocabulary, `wildcard` where the messages vary.
    public struct Template: Sendable, Equatable {
        public var id: Int
        public var words: [Int32]
        public var size: Int
    }

    static let wildcard: Int32 = -1
    public static let wildcardText = "<*>"

    /// The share of a template's words a message must match to join it.
    public let similarity: Double
    public private(set) var templates: [Template] = []
    private var vocabulary: [Substring: Int32] = [:]
    private var words: [Substring] = []
    private var byLength: [Int: [Int]] = [:]
    /// A template merged into an older one with the same words points at it.
    private var mergedInto: [Int: Int] = [:]
    private var byWords: [[Int32]: Int] = [:]

    /// Messages of another length join a template when their fixed words align this well
    /// (longest common subsequence over the mean length); nil keeps lengths apart, as Drain does.
    public let crossLengthSimilarity: Double?

    public init(similarity: Double = 0.6, crossLengthSimilarity: Double? = nil) {
        self.similarity = similarity
        self.crossLengthSimilarity = crossLengthSimilarity
    }

    /// A miner that goes on from templates it exported (`exported()`), ids included.
    public init(similarity: Double = 0.6, crossLengthSimilarity: Double? = nil, restoring saved: [SavedTemplate]) {
        self.init(similarity: similarity, crossLengthSimilarity: crossLengthSimilarity)
        for (id, template) in saved.enumerated() {
            precondition(template.id == id, "saved templates are numbered from 0 without gaps")
            let tokens = template.words.map { word in word.map { self.word(Substring($0)) } ?? Self.wildcard }
            templates.append(Template(id: id, words: tokens, size: 0))
            if let target = template.mergedInto {
                mergedInto[id] = target
            } else {
                byLength[tokens.count, default: []].append(id)
                byWords[tokens] = id
            }
        }
    }

    /// A template as kept between runs: its words (nil for a variable part) and the template
    /// it merged into, if it did.
    public struct SavedTemplate: Sendable, Equatable {
        public var id: Int
        public var words: [String?]
        public var mergedInto: Int?

        public init(id: Int, words: [String?], mergedInto: Int?) {
            self.id = id
            self.words = words
            self.mergedInto = mergedInto
        }
    }

    /// Every template, merged ones too, in id order: what `init(restoring:)` takes back.
    public func exported() -> [SavedTemplate] {
        templates.map { template in
            SavedTemplate(id: template.id, words: template.words.map { $0 == Self.wildcard ? nil : String(words[Int($0)]) },
                          mergedInto: mergedInto[template.id])
        }
    }

    private mutating func word(_ token: Substring) -> Int32 {
        if let known = vocabulary[token] { return known }
        let word = Int32(words.count)
        words.append(token)
        vocabulary[token] = word
        return word
    }

    /// Adds a message; returns the id of the template it joined or started.
    public mutating func add(_ message: String) -> Int {
        let tokens = Self.tokens(of: message).map { token -> Int32 in
            Self.isVariable(token) ? Self.wildcard : word(token)
        }
        if let same = byWords[tokens] {
            templates[same].size += 1
            return same
        }
        guard let best = mostSimilar(to: tokens) else {
            if let other = mostSimilarOfAnotherLength(to: tokens) {
                templates[other].size += 1
                return other
            }
            let id = templates.count
            templates.append(Template(id: id, words: tokens, size: 1))
            byLength[tokens.count, default: []].append(id)
            byWords[tokens] = id
            return id
        }
        templates[best].size += 1
        let merged = zip(templates[best].words, tokens).map { $0 == $1 ? $0 : Self.wildcard }
        guard merged != templates[best].words else { return best }
        byWords[templates[best].words] = nil
        templates[best].words = merged
        // Two templates that generalized to the same words are one.
        if let older = byWords[merged], older != best {
            let (keep, drop) = (min(older, best), max(older, best))
            templates[keep].size += templates[drop].size
            templates[drop].size = 0
            byLength[merged.count]?.removeAll { $0 == drop }
            mergedInto[drop] = keep
            byWords[merged] = keep
            return keep
        }
        byWords[merged] = best
        return best
    }

    /// The template a message added earlier belongs to now (templates merge as they generalize).
    public func current(_ id: Int) -> Int {
        var id = id
        while let next = mergedInto[id] { id = next }
        return id
    }

    /// A template as text, variable parts shown as `<*>`.
    public func text(of id: Int) -> String {
        templates[current(id)].words.map { $0 == Self.wildcard ? Self.wildcardText : String(words[Int($0)]) }
            .joined(separator: " ")
    }

    /// Drain's similarity: matching fixed words over the length; on a tie, the more general template.
    private func mostSimilar(to tokens: [Int32]) -> Int? {
        guard !tokens.isEmpty, let candidates = byLength[tokens.count] else { return nil }
        var best: Int?, bestScore = -1, bestWildcards = -1
        for id in candidates {
            var score = 0, wildcards = 0
            for (word, token) in zip(templates[id].words, tokens) {
                if word == Self.wildcard { wildcards += 1 } else if word == token { score += 1 }
            }
            if score > bestScore || (score == bestScore && wildcards > bestWildcards) {
                (best, bestScore, bestWildcards) = (id, score, wildcards)
            }
        }
        guard let best, Double(bestScore) / Double(tokens.count) >= similarity else { return nil }
        return best
    }

    /// The template of another length (at most a quarter longer or shorter) whose fixed words
    /// share the longest common subsequence with the message's, if it reaches `crossLengthSimilarity`.
    private func mostSimilarOfAnotherLength(to tokens: [Int32]) -> Int? {
        guard let threshold = crossLengthSimilarity, !tokens.isEmpty else { return nil }
        let fixed = tokens.filter { $0 != Self.wildcard }
        let spread = max(1, tokens.count / 4)
        var best: Int?, bestScore = threshold
        for length in max(1, tokens.count - spread)...(tokens.count + spread) where length != tokens.count {
            for id in byLength[length] ?? [] {
                let other = templates[id].words.filter { $0 != Self.wildcard }
                guard !other.isEmpty || !fixed.isEmpty else { continue }
                let score = 2 * Double(Self.commonSubsequence(fixed, other)) / Double(fixed.count + other.count)
                if score >= bestScore { (best, bestScore) = (id, score) }
            }
        }
        return best
    }

    static func commonSubsequence(_ a: [Int32], _ b: [Int32]) -> Int {
        guard !a.isEmpty, !b.isEmpty else { return 0 }
        var previous = [Int](repeating: 0, count: b.count + 1), current = previous
        for x in a {
            for (j, y) in b.enumerated() {
                current[j + 1] = x == y ? previous[j] + 1 : max(previous[j + 1], current[j])
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }

    static func tokens(of message: String) -> [Substring] {
        message.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" })
    }

    private static let calendarWords: Set<String> = [
        "mon", "tue", "wed", "thu", "fri", "sat", "sun",
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ]

    /// Numbers, ids, addresses, hosts with digits, paths, day and month names, and empty
    /// brackets or quotes (an empty value) are variable parts.
    static func isVariable(_ token: Substring) -> Bool {
        var brackets = true
        for scalar in token.unicodeScalars {
            if scalar.properties.numericType != nil { return true }
            if !"()[]{}<>'\"".unicodeScalars.contains(scalar) { brackets = false }
        }
        if brackets { return true }
        if token.count > 1 && token.contains("/") { return true }
        let trimmed = token.trimmingPunctuation
        return trimmed.count == 3 && calendarWords.contains(trimmed.lowercased())
    }
}

extension Substring {
    fileprivate var trimmingPunctuation: Substring {
        let punctuation: Set<Character> = ["(", ")", ",", ".", ";", ":", "[", "]"]
        var result = self
        while let first = result.first, punctuation.contains(first) { result = result.dropFirst() }
        while let last = result.last, punctuation.contains(last) { result = result.dropLast() }
        return result
    }
}
