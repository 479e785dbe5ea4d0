/// Groups error messages by template, in the spirit of Drain (He et al., ICWS 2017): a
/// message's variable parts become wildcards, and a message joins the most similar template of
/// its length and leading word when enough of the template's fixed words match, turning the
/// positions that differ into wildcards.
///
/// Choices beside Drain's, measured on the 8 Loghub 2k samples of docs/benchmarks.md and meant
/// to hold for logs nobody tuned for (the same rules for every input, no per-system expressions):
/// - Variables are found inside words, not only whole words: a run of letters and digits that
///   holds a digit is a variable (`blk_-42` is `blk_<*>`, `10.0.0.1:80` is `<*>:<*>`), so is the
///   value of a `key=value` when it is hexadecimal (`mask=ffff`), and every value of a
///   `key=value,key=value` list written without spaces (the keys are the template). A word
///   with any variable part is a wildcard to the grouping, so values of different shapes do
///   not split a template; the template shows the shape its members share (`blk_<*>`).
/// - Templates are found by length and leading plain words (Drain's tree): two short messages
///   that differ in their first word (`Acquiring <*>`, `Releasing <*>`) never meet, however
///   well the rest matches. A first word that is not plain (`com.example.billing:`, `[job`) is
///   as often a variable and does not route, which kept Drain's tree from scattering such
///   families; a label (`getTasks:`, an exception type) routes with the plain word after it.
/// - A word constant across every member of a template counts in its similarity, a position
///   that varied does not (Drain's measure), so a message must match most of what its
///   template's members share.
public struct MessageTemplateMiner: Sendable {
    /// A template: words of the vocabulary, `wildcard` where the messages vary.
    public struct Template: Sendable, Equatable {
        public var id: Int
        public var words: [Int32]
        public var size: Int
        /// What the template shows: its words, and where a wildcard's members all had the
        /// same variable shape (`blk_<*>`, `(<*>)`), that shape.
        var shapes: [Int32]
    }

    static let wildcard: Int32 = -1
    public static let wildcardText = "<*>"
    /// Bumped whenever the rules change what a message's words are or which template it joins:
    /// templates stored by another version are rebuilt (`rebuilt(from:)`), ids kept.
    public static let version = 2

    /// The share of a template's words a message must match to join it.
    public let similarity: Double
    public private(set) var templates: [Template] = []
    private var vocabulary: [Substring: Int32] = [:]
    private var words: [Substring] = []
    private var isPlain: [Bool] = []
    private var isLabel: [Bool] = []
    private var byRoute: [Route: [Int]] = [:]
    /// A template merged into an older one with the same words points at it.
    private var mergedInto: [Int: Int] = [:]
    private var byWords: [[Int32]: Int] = [:]

    /// Templates a message may join: those of its length and leading words (`wildcard` where
    /// the message has none that routes, see `route`).
    struct Route: Hashable {
        var length: Int
        var first: Int32
        var second: Int32 = MessageTemplateMiner.wildcard
    }

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
            templates.append(Template(id: id, words: tokens, size: 0, shapes: tokens))
            if let target = template.mergedInto {
                mergedInto[id] = target
            } else {
                byRoute[route(tokens), default: []].append(id)
                byWords[tokens] = id
            }
        }
    }

    /// A miner of this version from templates another version saved, each id kept: the
    /// template of id `i` is what this miner makes of `examples[i]` (a message of that cluster;
    /// its stored words when there is none). An old template whose example joins an older one
    /// here merges into it, so clusters that the old rules split are one again, and ones that
    /// they merged stay one.
    public static func rebuilt(similarity: Double = 0.6, crossLengthSimilarity: Double? = nil, from saved: [SavedTemplate],
                               examples: [Int: String]) -> MessageTemplateMiner {
        var miner = MessageTemplateMiner(similarity: similarity, crossLengthSimilarity: crossLengthSimilarity)
        for (id, template) in saved.enumerated() {
            precondition(template.id == id, "saved templates are numbered from 0 without gaps")
            // An old template that now merges keeps its id and its words, pointing at the
            // template that goes on for it.
            func merge(into target: Int) {
                let words = template.words.map { word in word.map { miner.word(Substring($0)) } ?? wildcard }
                miner.templates.append(Template(id: id, words: words, size: 0, shapes: words))
                miner.mergedInto[id] = miner.current(target)
            }
            if let target = template.mergedInto {
                merge(into: target)
                continue
            }
            let joined = miner.add(examples[id] ?? template.words.map { $0 ?? wildcardText }.joined(separator: " "))
            if joined != id { merge(into: joined) }
            miner.templates[miner.current(id)].size = 0
        }
        return miner
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
        isPlain.append(Self.isPlainWord(token))
        isLabel.append(Self.isLabelWord(token))
        vocabulary[token] = word
        return word
    }

    /// A message's leading plain word routes it. A label before it (`getTasks:`,
    /// `openai.RateLimitError:`, see `isLabel`) routes with the plain word after it, so that
    /// failures of one exception type that differ in their first word (`Starting …`,
    /// `Ending …`) never meet either.
    func route(_ tokens: [Int32]) -> Route {
        guard let first = tokens.first, first != Self.wildcard else { return Route(length: tokens.count, first: Self.wildcard) }
        if tokens.count > 2, isLabel[Int(first)], tokens[1] != Self.wildcard, isPlain[Int(tokens[1])] {
            return Route(length: tokens.count, first: first, second: tokens[1])
        }
        return Route(length: tokens.count, first: isPlain[Int(first)] ? first : Self.wildcard)
    }

    /// A word of letters, maybe with inner `-` or `'` and one closing punctuation mark
    /// (`getTasks:`, `Starting`, `can't`): a constant by the look of it. Dotted or bracketed
    /// identifiers, paths and the like are as often the name of what varies.
    static func isPlainWord(_ token: Substring) -> Bool {
        var bytes = token.utf8[...]
        if let last = bytes.last, last == 0x3A || last == 0x2C || last == 0x2E || last == 0x3B || last == 0x21 || last == 0x3F {
            bytes = bytes.dropLast()
        }
        guard let first = bytes.first, isLetter(first) else { return false }
        return bytes.allSatisfy { isLetter($0) || $0 == 0x2D || $0 == 0x27 }
    }

    /// A word ending with `:` that names a function or a type (`getTasks:`, `RuntimeError:`,
    /// `openai.RateLimitError:`, `org.example.Worker:`): it says what the message is about, and
    /// the message proper starts after it. A dotted name whose last part is lower case
    /// (`com.example.billing:`) is as often the name of what varies, and is no label.
    static func isLabelWord(_ token: Substring) -> Bool {
        let bytes = token.utf8
        guard bytes.count > 1, bytes.last == 0x3A else { return false }
        let name = bytes.dropLast()
        guard let lastPart = name.split(whereSeparator: { $0 == 0x2E || $0 == 0x3A || $0 == 0x24 }).last,
              lastPart.count == name.count || (lastPart.first.map { $0 >= 0x41 && $0 <= 0x5A } ?? false) else { return false }
        return lastPart.allSatisfy { isLetter($0) || isDigit($0) || $0 == 0x5F } && lastPart.first.map(isLetter) == true
    }

    /// Adds a message; returns the id of the template it joined or started.
    public mutating func add(_ message: String) -> Int {
        // A word with a variable part is a wildcard to the grouping, which only its shape keeps.
        var tokens: [Int32] = [], shapes: [Int32] = []
        for token in Self.tokens(of: message) {
            let (constant, shape) = Self.shape(of: token)
            if constant {
                let known = word(token)
                tokens.append(known)
                shapes.append(known)
            } else {
                tokens.append(Self.wildcard)
                shapes.append(shape.map { word($0) } ?? Self.wildcard)
            }
        }
        if let same = byWords[tokens] {
            joinShapes(same, shapes)
            templates[same].size += 1
            return same
        }
        guard let best = mostSimilar(to: tokens) else {
            if let other = mostSimilarOfAnotherLength(to: tokens) {
                templates[other].size += 1
                return other
            }
            let id = templates.count
            templates.append(Template(id: id, words: tokens, size: 1, shapes: shapes))
            byRoute[route(tokens), default: []].append(id)
            byWords[tokens] = id
            return id
        }
        templates[best].size += 1
        let merged = zip(templates[best].words, tokens).map { $0 == $1 ? $0 : Self.wildcard }
        joinShapes(best, shapes)
        guard merged != templates[best].words else { return best }
        byWords[templates[best].words] = nil
        templates[best].words = merged
        // Two templates that generalized to the same words are one.
        if let older = byWords[merged], older != best {
            let (keep, drop) = (min(older, best), max(older, best))
            templates[keep].size += templates[drop].size
            templates[drop].size = 0
            joinShapes(keep, templates[drop].shapes)
            byRoute[route(merged)]?.removeAll { $0 == drop }
            mergedInto[drop] = keep
            byWords[merged] = keep
            return keep
        }
        byWords[merged] = best
        return best
    }

    /// A position keeps its shape while every member has that shape there.
    private mutating func joinShapes(_ id: Int, _ shapes: [Int32]) {
        guard templates[id].shapes != shapes else { return }
        for (index, shape) in shapes.enumerated() where templates[id].shapes[index] != shape {
            let kept = templates[id].shapes[index]
            guard kept != Self.wildcard, shape != Self.wildcard,
                  let common = Self.commonShape(words[Int(kept)], words[Int(shape)]) else {
                templates[id].shapes[index] = Self.wildcard
                continue
            }
            templates[id].shapes[index] = word(common)
        }
    }

    /// What two shapes of one position share around their variable part: the punctuation
    /// that opens and closes them and a `key=` (`(<*>)` of `(a.net)` and `(<*>.b.net)`,
    /// `user=<*>` of `user=root` and `user=guest`); nil when nothing is shared.
    static func commonShape(_ a: Substring, _ b: Substring) -> Substring? {
        let x = Array(a.utf8), y = Array(b.utf8)
        var prefix = 0
        while prefix < min(x.count, y.count) && x[prefix] == y[prefix] { prefix += 1 }
        while prefix > 0 && (isWordByte(x[prefix - 1]) || x[prefix - 1] == 0x3C || x[prefix - 1] == 0x2A) { prefix -= 1 }
        var suffix = 0
        while suffix < min(x.count, y.count) - prefix && x[x.count - 1 - suffix] == y[y.count - 1 - suffix] { suffix += 1 }
        while suffix > 0 && (isWordByte(x[x.count - suffix]) || x[x.count - suffix] == 0x3E || x[x.count - suffix] == 0x2A) { suffix -= 1 }
        guard prefix > 0 || suffix > 0 else { return nil }
        var joined = Array(x[..<prefix])
        if !joined.reversed().starts(with: wildcardBytes.reversed()) { joined += wildcardBytes }
        let tail = x[(x.count - suffix)...]
        joined += tail.starts(with: wildcardBytes) ? tail.dropFirst(3) : tail
        return Substring(decoding: joined, as: UTF8.self)
    }

    /// The template a message added earlier belongs to now (templates merge as they generalize).
    public func current(_ id: Int) -> Int {
        var id = id
        while let next = mergedInto[id] { id = next }
        return id
    }

    /// A template as text, variable parts shown as `<*>`.
    public func text(of id: Int) -> String {
        templates[current(id)].shapes.map { $0 == Self.wildcard ? Self.wildcardText : String(words[Int($0)]) }
            .joined(separator: " ")
    }

    /// Drain's similarity: matching fixed words over the length; on a tie, the more general template.
    private func mostSimilar(to tokens: [Int32]) -> Int? {
        guard !tokens.isEmpty, let candidates = byRoute[route(tokens)] else { return nil }
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

    /// The template of another length (at most a quarter longer or shorter) and the same first
    /// word whose fixed words share the longest common subsequence with the message's, if it
    /// reaches `crossLengthSimilarity`.
    private func mostSimilarOfAnotherLength(to tokens: [Int32]) -> Int? {
        guard let threshold = crossLengthSimilarity, !tokens.isEmpty else { return nil }
        let fixed = tokens.filter { $0 != Self.wildcard }
        let spread = max(1, tokens.count / 4)
        var best: Int?, bestScore = threshold
        for length in max(1, tokens.count - spread)...(tokens.count + spread) where length != tokens.count {
            var sameWords = route(tokens)
            sameWords.length = length
            for id in byRoute[sameWords] ?? [] {
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

    /// Whether a word is a variable part, or holds one, to the grouping.
    static func isVariable(_ token: Substring) -> Bool {
        !shape(of: token).constant
    }

    /// A word as its template shows it, variable parts as `<*>` (nil when it is nothing but
    /// one variable), and whether it is a constant: the grouping counts a word with any
    /// variable part as a variable, so two messages of one kind match there whatever the shape
    /// of their values.
    static func shape(of token: Substring) -> (constant: Bool, shape: Substring?) {
        if token.utf8.allSatisfy(isBracketOrQuote) { return (false, token) }
        guard let masked = masked(token) else { return (false, nil) }
        if token.utf8.count > 1 && masked.utf8.contains(0x2F) && masked.utf8.contains(where: isLetter) {
            // A path: what encloses it.
            let bytes = Array(token.utf8)
            let lead = bytes.prefix { !isWordByte($0) && $0 != 0x2F }, trail = bytes.reversed().prefix { !isWordByte($0) && $0 != 0x2F }
            guard lead.count + trail.count < bytes.count, !lead.isEmpty || !trail.isEmpty else { return (false, nil) }
            return (false, Substring(decoding: lead + wildcardBytes + trail.reversed(), as: UTF8.self))
        }
        if masked.utf8.count == token.utf8.count && masked == token { return (true, token) }
        return (false, masked)
    }

    private static let calendarWords: Set<Substring> = [
        "mon", "tue", "wed", "thu", "fri", "sat", "sun",
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ]

    /// A word with its variable parts as `<*>`: nil when it is nothing but one variable (day
    /// and month names too), the word itself when it has none.
    ///
    /// Variable parts: a run of letters and digits holding a digit, with its sign (`blk_-42`,
    /// `req_9f3a`, `v0x1f`); a hexadecimal run without digits when it is the value of a
    /// `key=value` (`mask=ffff`), follows a variable (`<*>-bdcc-<*>`) or is six long (`@dacdee`);
    /// every value of a list of two or more `key=value` pairs. Variables joined by `.`, `_` or
    /// `-` are one (`<*>_<*>` is `<*>`), so an id's inner punctuation does not make templates.
    static func masked(_ token: Substring) -> Substring? {
        let bytes = token.utf8
        var hasDigit = false, equals = 0, onlyBrackets = true, hexRun = 0, longHexRun = false
        for byte in bytes {
            if byte >= 0x30 && byte <= 0x39 { hasDigit = true }
            if byte == 0x3D { equals += 1 }
            if !isBracketOrQuote(byte) { onlyBrackets = false }
            hexRun = isHex(byte) ? hexRun + 1 : (isWordByte(byte) ? -bytes.count : 0)
            if hexRun >= 6 { longHexRun = true }
        }
        if onlyBrackets { return nil }
        if !hasDigit && equals == 0 && !longHexRun {
            if bytes.count <= 5, calendarWords.contains(Substring(trimmingPunctuation(token).lowercased())) { return nil }
            if token == "<*>" { return nil }
            return token
        }
        // Split into runs of letters and digits (non-ASCII counts as a letter) and single
        // punctuation bytes; mark the variable runs.
        let array = Array(bytes)
        var out: [UInt8] = []
        out.reserveCapacity(array.count)
        var index = 0
        var pairs = equals >= 2 && array.contains(where: { $0 == 0x2C || $0 == 0x3B || $0 == 0x26 })
        if pairs {
            // A list needs each value to follow a key: `a=1,b=2`, not `==`.
            pairs = array.first.map(isWordByte) ?? false
        }
        var letters = false
        func appendWildcard() {
            // Variables joined by inner punctuation are one variable.
            if out.count >= 4, isJoiner(out[out.count - 1]), out[(out.count - 4)...].starts(with: wildcardBytes) {
                out.removeLast()
                return
            }
            if out.count >= 3, out[(out.count - 3)...].elementsEqual(wildcardBytes) { return }
            out.append(contentsOf: wildcardBytes)
        }
        while index < array.count {
            let byte = array[index]
            if pairs, byte == 0x3D {
                // The whole value, up to the next separator, is a variable.
                out.append(byte)
                var end = index + 1
                while end < array.count && !(array[end] == 0x2C || array[end] == 0x3B || array[end] == 0x26) { end += 1 }
                if end > index + 1 { appendWildcard() }
                index = end
                continue
            }
            if isWordByte(byte) || ((byte == 0x2D || byte == 0x2B) && index + 1 < array.count && isDigit(array[index + 1])
                                    && (index == 0 || !isWordByte(array[index - 1]))) {
                var end = index + 1
                var digit = isDigit(byte), hex = isHex(byte)
                while end < array.count && isWordByte(array[end]) {
                    digit = digit || isDigit(array[end])
                    hex = hex && isHex(array[end])
                    end += 1
                }
                let afterEquals = index > 0 && array[index - 1] == 0x3D
                let endsValue = end == array.count || !isWordByte(array[end])
                let joinedToVariable = out.count >= 4 && isJoiner(out[out.count - 1]) && out[(out.count - 4)...].starts(with: wildcardBytes)
                let length = end - index
                if digit || (hex && ((afterEquals && endsValue && length >= 2) || (joinedToVariable && length >= 4) || length >= 6)) {
                    appendWildcard()
                } else {
                    out.append(contentsOf: array[index..<end])
                    letters = true
                }
                index = end
                continue
            }
            out.append(byte)
            index += 1
        }
        if !letters && out.elementsEqual(wildcardBytes) { return nil }
        return Substring(decoding: out, as: UTF8.self)
    }

    private static let wildcardBytes: [UInt8] = Array("<*>".utf8)

    private static func isLetter(_ byte: UInt8) -> Bool { (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || byte >= 0x80 }
    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
    private static func isHex(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte >= 0x61 && byte <= 0x66) || (byte >= 0x41 && byte <= 0x46)
    }
    private static func isWordByte(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || byte >= 0x80
    }
    /// Inner punctuation of one id or number (`1.5`, `job_12_7`, `2026-12-06`); `:` and `/`
    /// separate values (`host:port`, `12:30:01`) and stay.
    private static func isJoiner(_ byte: UInt8) -> Bool {
        byte == 0x2E || byte == 0x5F || byte == 0x2D
    }
    private static func isBracketOrQuote(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x28, 0x29, 0x5B, 0x5D, 0x7B, 0x7D, 0x3C, 0x3E, 0x27, 0x22: true
        default: false
        }
    }

    private static func trimmingPunctuation(_ token: Substring) -> Substring {
        let punctuation: Set<Character> = ["(", ")", ",", ".", ";", ":", "[", "]"]
        var result = token
        while let first = result.first, punctuation.contains(first) { result = result.dropFirst() }
        while let last = result.last, punctuation.contains(last) { result = result.dropLast() }
        return result
    }
}
