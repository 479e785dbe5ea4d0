import PyFlareWire

/// The texts of a span that evaluators read, from the attributes of the conventions PyFlare
/// normalizes (GenAI, OpenInference, OpenLLMetry), given as the JSON object `spans.attributes` holds.
struct SpanText {
    let attributes: JSONValue

    init(_ attributes: JSONValue) {
        self.attributes = attributes
    }

    init?(json: String?) {
        guard let json, let parsed = try? JSONValue.parse(Array(json.utf8)) else { return nil }
        attributes = parsed
    }

    /// What the span was asked: the last user message, else the whole input.
    var input: String? {
        first(["gen_ai.retrieval.query.text", "retrieval.query", "input.value", "gen_ai.prompt", "llm.prompts"])
            ?? lastMessage(flattened: "llm.input_messages", role: "user")
            ?? lastMessage(flattened: "gen_ai.prompt", role: "user")
            ?? messagesText("gen_ai.input.messages", role: "user")
    }

    /// What the span answered.
    var output: String? {
        first(["output.value", "gen_ai.completion"])
            ?? lastMessage(flattened: "llm.output_messages", role: nil)
            ?? lastMessage(flattened: "gen_ai.completion", role: nil)
            ?? messagesText("gen_ai.output.messages", role: nil)
    }

    /// A condition on `spans.attributes` (its JSON text) that holds wherever ``documents``
    /// finds a document's text, so a statement drops the rest before their attributes reach
    /// memory: a `content`, `page_content` or `document.content` key (flattened or in an item)
    /// or an item's `text` key, or an array of strings, each quoted plainly or escaped inside
    /// a JSON string. Retrievals that send only ids and scores, as many do, fail it.
    static let documentTextCondition: String = {
        let fragments = [#"content":"#, #"content\":"#, #""text":"#, #"\"text\":"#, #"[""#, #"[\""#]
        return "(" + fragments.map { "instr(attributes, '\($0)') > 0" }.joined(separator: " OR ") + ")"
    }()

    /// Retrieved documents: OpenInference's `retrieval.documents.N.document.content`, or a
    /// `gen_ai.retrieval.documents` array (of strings, or of objects with `content`/`text`),
    /// possibly sent as a JSON string.
    var documents: [String] {
        var flattened: [(Int, String)] = []
        if case .object(let members) = attributes {
            for (key, value) in members where key.hasPrefix("retrieval.documents.") && key.hasSuffix(".document.content") {
                let index = key.dropFirst("retrieval.documents.".count).prefix { $0.isNumber }
                if let index = Int(index), let text = value.text { flattened.append((index, text)) }
            }
        }
        if !flattened.isEmpty { return flattened.sorted { $0.0 < $1.0 }.map(\.1) }
        for key in ["gen_ai.retrieval.documents", "retrieval.documents"] {
            guard var value = attributes[key] else { continue }
            if case .string(let text) = value, let parsed = try? JSONValue.parse(Array(text.utf8)) { value = parsed }
            guard case .array(let items) = value else { continue }
            return items.compactMap { item in
                if case .string(let text) = item { return text }
                return item["content"]?.text ?? item["text"]?.text ?? item["page_content"]?.text ?? item["document"]?["content"]?.text
            }
        }
        return []
    }

    /// An attribute's text, for configured keys (reference answers, baselines).
    func value(_ key: String) -> String? {
        attributes[key]?.text.flatMap { $0.isEmpty ? nil : $0 }
    }

    private func first(_ keys: [String]) -> String? {
        for key in keys {
            if let text = attributes[key]?.text, !text.isEmpty { return text }
        }
        return nil
    }

    /// The content of the last message of `prefix.N.message.content` (OpenInference) or
    /// `prefix.N.content` (OpenLLMetry) with `role`, or of any role when nil.
    private func lastMessage(flattened prefix: String, role: String?) -> String? {
        guard case .object(let members) = attributes else { return nil }
        var contents: [Int: String] = [:], roles: [Int: String] = [:]
        for (key, value) in members where key.hasPrefix(prefix + ".") {
            let rest = key.dropFirst(prefix.count + 1)
            guard let index = Int(rest.prefix { $0.isNumber }) else { continue }
            let field = rest.drop { $0.isNumber }
            if field == ".message.content" || field == ".content" { contents[index] = value.text }
            if field == ".message.role" || field == ".role" { roles[index] = value.text }
        }
        let candidates = contents.keys.sorted().filter { role == nil || roles[$0] == nil || roles[$0] == role }
        return candidates.last.flatMap { contents[$0] }
    }

    /// The text parts of the last message with `role` of a GenAI messages array (`[{"role",
    /// "parts": [{"type": "text", "content"}]}]`), sent as a JSON string.
    private func messagesText(_ key: String, role: String?) -> String? {
        guard var value = attributes[key] else { return nil }
        if case .string(let text) = value, let parsed = try? JSONValue.parse(Array(text.utf8)) { value = parsed }
        guard case .array(let messages) = value else { return nil }
        for message in messages.reversed() where role == nil || message["role"]?.text == role {
            if let content = message["content"]?.text { return content }
            guard case .array(let parts)? = message["parts"] else { continue }
            let texts = parts.compactMap { $0["content"]?.text }
            if !texts.isEmpty { return texts.joined(separator: "\n") }
        }
        return nil
    }
}
