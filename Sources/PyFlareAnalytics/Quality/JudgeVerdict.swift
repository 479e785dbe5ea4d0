import Foundation
import PyFlareWire

enum JudgeOutcome: String, Sendable {
    case pass, fail, unsure, error
}

/// The verdict of an LLM judge, parsed from its free-form reply.
struct JudgeVerdict: Sendable, Equatable {
    var outcome: JudgeOutcome
    /// 0...1, 1 = good; nil when the judge gave none (or an unreadable one).
    var score: Double?
    /// The judge's explanation; for `.error`, why the reply could not be read.
    var explanation: String?
    var hallucination = false
    var factualError = false
    var contradiction = false
    var unsupportedClaim = false
    /// The claims the judge listed as unsupported, when it listed them.
    var unsupportedClaims: [String] = []
    /// Of a pairwise comparison: "A" (the output), "B" (the baseline) or "tie".
    var preferred: String?

    init(outcome: JudgeOutcome, score: Double? = nil, explanation: String? = nil,
         hallucination: Bool = false, factualError: Bool = false, contradiction: Bool = false,
         unsupportedClaim: Bool = false, unsupportedClaims: [String] = [], preferred: String? = nil) {
        self.outcome = outcome
        self.score = score
        self.explanation = explanation
        self.hallucination = hallucination
        self.factualError = factualError
        self.contradiction = contradiction
        self.unsupportedClaim = unsupportedClaim
        self.unsupportedClaims = unsupportedClaims
        self.preferred = preferred
    }

    static func error(_ why: String) -> JudgeVerdict {
        JudgeVerdict(outcome: .error, explanation: why)
    }

    /// Reads a judge's reply; never fails: a reply it cannot read gives `.error` with the reason.
    ///
    /// The reply's first balanced JSON object is used, wherever it is (in a ```json fence,
    /// between prose); braces inside JSON strings do not count. A `{` never closed means the
    /// reply was cut off: `.error`. Keys are matched ignoring case, "_", "-" and spaces
    /// (`factual_error`, `factualError`), in the variants models use:
    /// - outcome: verdict / result / label / decision / outcome / judgment. "pass", "yes",
    ///   "true", "faithful", "supported", "correct" pass (the questions of `JudgeTemplates` are
    ///   phrased so that yes is good); "fail", "no", "false", "hallucinated", "unsupported",
    ///   "incorrect" fail; "unsure", "uncertain", "unknown" are unsure. An explicit verdict wins
    ///   over flags and score.
    /// - score: score / rating / grade, a number or a string ("8", "8/10", "80%"). Divided by
    ///   the maximum when a max / max_score / scale / out_of key gives one (a number, or the
    ///   last number of "1-5"); otherwise a value above 1 is read as out of 10 up to 10 and
    ///   out of 100 up to 100 (a 1–5 scale needs its max key: 4 alone reads 0.4). The minimum of
    ///   a scale is not subtracted. Negative or larger values are dropped.
    /// - explanation / reason / reasoning / rationale / justification / critique.
    /// - flags hallucination (has_hallucination, hallucinated), factual_error(s),
    ///   contradiction(s), unsupported_claim(s): true for true, a non-zero number, a non-empty
    ///   array or object, or a string other than "false", "no", "none", "0" or "".
    /// - preferred / winner / preference / better: "A", "Response B", "tie" (or "equal", "both").
    /// Without a verdict the outcome follows the flags (any set → fail), else the score
    /// (≥ 0.5 → pass), else `preferred` (B → fail), else flags all unset → pass.
    /// An object without any of these keys is searched one level down ({"evaluation": {...}}).
    ///
    /// Without any JSON object, a standalone verdict word is looked for: PASS or FAIL (or
    /// UNSURE, PASSED, FAILED) in capitals, after "verdict:"/"result:" in any case, or as the
    /// whole reply; a reply naming two different outcomes is ambiguous, `.error`.
    static func parse(_ reply: String) -> JudgeVerdict {
        let text = reply.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return .error("empty reply") }
        switch JSONObjectScanner.firstObject(in: text) {
        case .object(let object):
            return verdict(from: object)
        case .truncated:
            return .error("truncated JSON object: no closing brace")
        case .none:
            return verdictWord(in: text)
        }
    }

    // MARK: JSON

    private static let verdictKeys = ["verdict", "result", "label", "decision", "outcome", "judgment", "judgement"]
    private static let scoreKeys = ["score", "rating", "grade"]
    private static let maximumKeys = ["max", "maxscore", "scoremax", "maximum", "scale", "outof"]
    private static let explanationKeys = ["explanation", "reason", "reasoning", "rationale", "justification", "critique"]
    private static let hallucinationKeys = ["hallucination", "hallucinations", "hashallucination", "hashallucinations",
                                            "hallucinated", "ishallucinated", "containshallucination"]
    private static let factualErrorKeys = ["factualerror", "factualerrors", "hasfactualerror", "hasfactualerrors"]
    private static let contradictionKeys = ["contradiction", "contradictions", "hascontradiction", "hascontradictions",
                                            "contradicts"]
    private static let unsupportedKeys = ["unsupportedclaim", "unsupportedclaims", "hasunsupportedclaim",
                                          "hasunsupportedclaims"]
    private static let preferredKeys = ["preferred", "winner", "preference", "better"]
    private static let flagKeys = hallucinationKeys + factualErrorKeys + contradictionKeys + unsupportedKeys
    private static let knownKeys = Set(verdictKeys + scoreKeys + flagKeys + preferredKeys)

    /// A reply's JSON object as a dictionary: of a key given twice, the last counts.
    typealias Object = [String: JSONValue]

    static func dictionary(_ members: [(key: String, value: JSONValue)]) -> Object {
        Object(members.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
    }

    /// The keys of `object` lowercased, keeping only letters and digits.
    private static func normalized(_ object: Object) -> Object {
        var fields: Object = [:]
        // Sorted, so that of two keys normalizing alike the same one wins every time.
        for key in object.keys.sorted() {
            let name = String(key.lowercased().filter { $0.isLetter || $0.isNumber })
            if fields[name] == nil { fields[name] = object[key] }
        }
        return fields
    }

    /// `object` (normalized) when it has a known key, else the first nested object that does.
    private static func verdictFields(_ object: Object, depth: Int = 1) -> Object? {
        let fields = normalized(object)
        if fields.keys.contains(where: knownKeys.contains) { return fields }
        guard depth > 0 else { return nil }
        for key in object.keys.sorted() {
            if case .object(let nested)? = object[key], let found = verdictFields(dictionary(nested), depth: depth - 1) {
                return found
            }
        }
        return nil
    }

    private static func verdict(from object: Object) -> JudgeVerdict {
        guard let fields = verdictFields(object) else {
            return .error("JSON object has no verdict, score or flags")
        }
        func first(_ keys: [String]) -> JSONValue? {
            keys.lazy.compactMap { fields[$0] }.first { $0 != .null }
        }
        func flag(_ keys: [String]) -> Bool {
            keys.contains { fields[$0].map(isSet) ?? false }
        }

        var result = JudgeVerdict(outcome: .error)
        result.hallucination = flag(hallucinationKeys)
        result.factualError = flag(factualErrorKeys)
        result.contradiction = flag(contradictionKeys)
        result.unsupportedClaim = flag(unsupportedKeys)
        result.unsupportedClaims = unsupportedKeys.lazy.compactMap { key -> [JSONValue]? in
            if case .array(let items)? = fields[key] { items } else { nil }
        }.first?.compactMap { item -> String? in
            if case .string(let claim) = item { claim.trimmingCharacters(in: .whitespacesAndNewlines) } else { nil }
        }.filter { !$0.isEmpty } ?? []
        result.score = first(scoreKeys).flatMap { score($0, maximum: first(maximumKeys)) }
        result.explanation = first(explanationKeys).flatMap(text)
        result.preferred = first(preferredKeys).flatMap(preference)

        let verdict = first(verdictKeys)
        let anyFlag = result.hallucination || result.factualError || result.contradiction || result.unsupportedClaim
        if let stated = verdict.flatMap(outcome) {
            result.outcome = stated
        } else if anyFlag {
            result.outcome = .fail
        } else if let score = result.score {
            result.outcome = score >= 0.5 ? .pass : .fail
        } else if let preferred = result.preferred {
            result.outcome = preferred == "B" ? .fail : .pass
        } else if flagKeys.contains(where: { fields[$0] != nil }) {
            result.outcome = .pass
        } else {
            let why = verdict.map { "unrecognized verdict \"\($0.text ?? $0.kindDescription)\"" } ?? "JSON object has no verdict, score or flags"
            return .error(why)
        }
        return result
    }

    private static let passWords: Set<String> = ["pass", "passed", "yes", "true", "faithful", "supported", "grounded",
                                                 "correct", "consistent", "good", "acceptable"]
    private static let failWords: Set<String> = ["fail", "failed", "no", "false", "unfaithful", "unsupported",
                                                 "hallucinated", "hallucination", "incorrect", "inconsistent",
                                                 "contradicted", "bad", "unacceptable"]
    private static let unsureWords: Set<String> = ["unsure", "uncertain", "unknown", "undetermined", "inconclusive"]

    /// The outcome a verdict value names: the whole string, else its first word ("PASS - all
    /// claims supported").
    private static func outcome(_ value: JSONValue) -> JudgeOutcome? {
        if case .bool(let passed) = value { return passed ? .pass : .fail }
        guard case .string(let string) = value else { return nil }
        let lower = string.lowercased().trimmingCharacters(in: .whitespacesAndNewlines.union(.punctuationCharacters))
        let firstWord = lower.split { !$0.isLetter }.first.map(String.init) ?? ""
        for word in [lower, firstWord] {
            if passWords.contains(word) { return .pass }
            if failWords.contains(word) { return .fail }
            if unsureWords.contains(word) { return .unsure }
        }
        return nil
    }

    private static func isSet(_ value: JSONValue) -> Bool {
        switch value {
        case .bool(let set): return set
        case .int(let number): return number != 0
        case .double(let number): return number != 0
        case .string(let string):
            let word = string.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
            return !["", "false", "no", "none", "0", "n/a"].contains(word)
        case .array(let items): return !items.isEmpty
        case .object(let members): return !members.isEmpty
        case .null: return false
        }
    }

    /// A number, or the number of a string, with the maximum a string such as "8/10" or "80%" implies.
    private static func number(_ value: JSONValue) -> (value: Double, maximum: Double?)? {
        if let number = value.number { return (number, nil) }
        guard case .string(let text) = value else { return nil }
        let string = text.trimmingCharacters(in: .whitespaces)
        if string.hasSuffix("%"), let percent = Double(string.dropLast().trimmingCharacters(in: .whitespaces)) {
            return (percent, 100)
        }
        let parts = string.split(separator: "/").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        if parts.count == 2, let value = parts[0], let maximum = parts[1] { return (value, maximum) }
        return Double(string).map { ($0, nil) }
    }

    /// The maximum a max/scale value gives: a number, or the last number of "1-5" or "0 to 10".
    private static func maximum(_ value: JSONValue) -> Double? {
        if let parsed = number(value) { return parsed.value }
        guard case .string(let string) = value else { return nil }
        return string.split { !($0.isNumber || $0 == ".") }.last.flatMap { Double($0) }
    }

    private static func score(_ value: JSONValue, maximum maximumValue: JSONValue?) -> Double? {
        guard let parsed = number(value), parsed.value >= 0, parsed.value.isFinite else { return nil }
        let raw = parsed.value
        let scale: Double
        if let given = maximumValue.flatMap(maximum) ?? parsed.maximum, given > 0 {
            scale = given
        } else if raw <= 1 {
            scale = 1
        } else if raw <= 10 {
            scale = 10
        } else {
            scale = 100
        }
        let score = raw / scale
        return score <= 1 ? score : nil
    }

    private static func text(_ value: JSONValue) -> String? {
        let string: String?
        switch value {
        case .string(let single): string = single
        case .array(let items): string = items.compactMap { if case .string(let item) = $0 { item } else { nil } }.joined(separator: " ")
        default: string = nil
        }
        let trimmed = string?.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed?.isEmpty == false ? trimmed : nil
    }

    /// "A", "B" or "tie" from "A", "Response B", "[[A]]", "tie", "equal"...
    private static func preference(_ value: JSONValue) -> String? {
        guard case .string(let string) = value else { return nil }
        let words = string.lowercased().split { !$0.isLetter }.map(String.init)
        if words.contains(where: { ["tie", "equal", "same", "both", "draw", "neither"].contains($0) }) { return "tie" }
        switch words.last {
        case "a": return "A"
        case "b": return "B"
        default: return nil
        }
    }

    // MARK: Verdict words

    private static let verdictLabels: Set<String> = ["verdict", "result", "label", "decision", "outcome", "judgment", "answer"]

    private static func verdictWord(in text: String) -> JudgeVerdict {
        let words = text.split { !$0.isLetter }.map(String.init)
        var found: [JudgeOutcome] = []
        for (index, word) in words.enumerated() {
            let outcome: JudgeOutcome
            switch word.uppercased() {
            case "PASS", "PASSED": outcome = .pass
            case "FAIL", "FAILED": outcome = .fail
            case "UNSURE": outcome = .unsure
            default: continue
            }
            // Capitals or a label mark a verdict; a lowercase "pass" in prose is just a word.
            let labeled = index > 0 && verdictLabels.contains(words[index - 1].lowercased())
            if word == word.uppercased() || labeled || words.count == 1, !found.contains(outcome) {
                found.append(outcome)
            }
        }
        switch found.count {
        case 1: return JudgeVerdict(outcome: found[0], explanation: text)
        case 0: return .error("no JSON object and no PASS/FAIL verdict in the reply")
        default: return .error("ambiguous reply: names \(found.map { $0.rawValue.uppercased() }.joined(separator: " and "))")
        }
    }
}

/// Finds the first balanced JSON object of a text.
enum JSONObjectScanner {
    enum Scan {
        case object(JudgeVerdict.Object)
        case truncated
        case none
    }

    /// Tries each top-level `{...}` in turn (prose may hold braces that are not JSON); a `{`
    /// never closed ends the search as `.truncated`. Quotes and escapes are followed, so braces
    /// in strings do not count. Bytes suffice: in UTF-8, no byte of a multi-byte character is
    /// an ASCII brace, quote or backslash.
    static func firstObject(in text: String) -> Scan {
        let bytes = Array(text.utf8)
        var start = bytes.firstIndex(of: UInt8(ascii: "{"))
        while let open = start {
            guard let close = matchingBrace(bytes, from: open) else { return .truncated }
            if case .object(let members)? = try? JSONValue.parse(Array(bytes[open...close])) {
                return .object(JudgeVerdict.dictionary(members))
            }
            start = bytes[(close + 1)...].firstIndex(of: UInt8(ascii: "{"))
        }
        return .none
    }

    private static func matchingBrace(_ bytes: [UInt8], from open: Int) -> Int? {
        var depth = 0
        var inString = false
        var escaped = false
        for index in open..<bytes.count {
            let byte = bytes[index]
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"): depth += 1
            case UInt8(ascii: "}"):
                depth -= 1
                if depth == 0 { return index }
            default: break
            }
        }
        return nil
    }
}

/// Fills a judge prompt template.
struct JudgePrompt: Sendable {
    /// Replaces each `{{name}}` (or `{{ name }}`) of `template` with `values[name]`, an unknown
    /// name with "". Values are inserted verbatim and not scanned again, so a `{{...}}` inside a
    /// traced input stays as it is. A `{{` without `}}`, or with anything but a name (letters,
    /// digits, "_", ".", "-") inside, is left as written.
    static func render(_ template: String, values: [String: String]) -> String {
        var output = ""
        var rest = template[...]
        while let open = rest.range(of: "{{") {
            guard let close = rest[open.upperBound...].range(of: "}}") else { break }
            output += rest[..<open.lowerBound]
            let name = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            if !name.isEmpty && name.allSatisfy({ $0.isLetter || $0.isNumber || "_.-".contains($0) }) {
                output += values[name] ?? ""
                rest = rest[close.upperBound...]
            } else {
                output += "{{"
                rest = rest[open.upperBound...]
            }
        }
        return output + rest
    }
}

/// Default prompts of the LLM judge. Each is one user message, the instructions first and the
/// traced texts last between tags, so that a judge reads them as data rather than as orders.
/// Every template asks for the JSON object `JudgeVerdict.parse` reads, with 1 = good.
enum JudgeTemplates {
    /// Is the output fully supported by the context and input? Placeholders: {{input}},
    /// {{context}}, {{output}}.
    static let hallucination = """
        You are a careful, impartial judge checking an AI response for hallucinations.

        Decide whether the RESPONSE is fully supported by the CONTEXT and the INPUT. A claim is \
        supported when the context or the input states it or it follows directly from them; \
        general knowledge absent from both does not count. Names, numbers and dates must match exactly.
        - "pass": every claim of the response is supported.
        - "fail": some claim is unsupported, or contradicts the context or the input.
        - "unsure": the context does not allow a decision.

        Answer ONLY with a JSON object, without any other text:
        {"verdict": "pass" | "fail" | "unsure", "score": <0 to 1, 1 = fully supported>, \
        "explanation": "<one or two sentences>", "hallucination": <true|false>, \
        "factual_error": <true|false>, "contradiction": <true|false>, \
        "unsupported_claims": ["<each unsupported claim of the response>"]}

        <input>
        {{input}}
        </input>

        <context>
        {{context}}
        </context>

        <response>
        {{output}}
        </response>
        """

    /// Does the output agree with a reference answer? Placeholders: {{input}}, {{reference}},
    /// {{output}}.
    static let reference = """
        You are a careful, impartial judge grading an AI response against a reference answer.

        Decide whether the RESPONSE answers the INPUT correctly, taking the REFERENCE answer as \
        correct. Wording may differ; extra details are acceptable when they do not contradict the \
        reference.
        - "pass": the response agrees with the reference on every fact that matters to the input.
        - "fail": the response misses, changes or contradicts such a fact.
        - "unsure": the reference does not allow a decision.

        Answer ONLY with a JSON object, without any other text:
        {"verdict": "pass" | "fail" | "unsure", "score": <0 to 1, 1 = fully agrees with the reference>, \
        "explanation": "<one or two sentences>", "hallucination": <true|false>, \
        "factual_error": <true|false>, "contradiction": <true|false>, \
        "unsupported_claims": ["<each claim of the response the reference does not support>"]}

        <input>
        {{input}}
        </input>

        <reference>
        {{reference}}
        </reference>

        <response>
        {{output}}
        </response>
        """

    /// Is the output (A) at least as good as the baseline (B)? Placeholders: {{input}},
    /// {{output}}, {{baseline}}.
    static let pairwise = """
        You are a careful, impartial judge comparing two AI responses to the same input.

        Compare RESPONSE A with RESPONSE B as answers to the INPUT: correctness first, then \
        helpfulness and relevance. Ignore their length and their order of presentation.
        - "preferred": "A" or "B" for the better response, "tie" when they are equally good.
        - "verdict": "pass" when A is at least as good as B ("A" or "tie"), else "fail".
        - "score": 1 when A is much better, 0.5 when they are equal, 0 when B is much better.

        Answer ONLY with a JSON object, without any other text:
        {"preferred": "A" | "B" | "tie", "verdict": "pass" | "fail", "score": <0 to 1>, \
        "explanation": "<one or two sentences>"}

        <input>
        {{input}}
        </input>

        <response_a>
        {{output}}
        </response_a>

        <response_b>
        {{baseline}}
        </response_b>
        """
}
