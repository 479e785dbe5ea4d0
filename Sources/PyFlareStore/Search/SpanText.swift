import PyFlareWire

/// The text of a span that free-text search reads: its name, its status message, and every
/// string value of its attributes and of its events (their names too), nested values
/// included. That is where prompts, completions, tool calls and arguments, retrieved
/// documents and exception messages and stack traces are sent. Keys, resources and links
/// are not searched.
struct SpanText {
    let batch: SpanBatch
    let arena: UnsafeRawBufferPointer

    /// Calls `body` with each searchable string of span `row`.
    func forEachString(ofSpan row: Int, _ body: (UnsafeRawBufferPointer) -> Void) {
        body(bytes(batch.names[row]))
        body(bytes(batch.statusMessages[row]))
        strings(batch.spanAttributes[row], of: batch.attributes, body)
        for event in batch.spanEvents[row].indices {
            body(bytes(batch.events.names[event]))
            strings(batch.events.attributes[event], of: batch.eventAttributes, body)
        }
    }

    private func strings(_ range: RowRange, of table: AttributeTable, _ body: (UnsafeRawBufferPointer) -> Void) {
        for row in range.indices {
            let payload = table.payloads[row]
            switch table.kinds[row] {
            case .string: body(bytes(StringRef(packed: payload)))
            case .array, .keyValueList: strings(RowRange(packed: payload), of: batch.nestedValues, body)
            default: break
            }
        }
    }

    private func bytes(_ ref: StringRef) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: arena[ref.range]) }

    /// Whether span `row` holds every one of `words`.
    func contains(_ words: [TextTokens.Word], span row: Int) -> Bool {
        guard !words.isEmpty else { return true }
        var found = [Bool](repeating: false, count: words.count)
        var remaining = words.count
        forEachString(ofSpan: row) { text in
            guard remaining > 0 else { return }
            TextTokens.forEach(in: text) { hash, word in
                for (index, wanted) in words.enumerated() where !found[index] && wanted.hash == hash
                    && TextTokens.equals(text, word, wanted.bytes) {
                    found[index] = true
                    remaining -= 1
                }
            }
        }
        return remaining == 0
    }
}
