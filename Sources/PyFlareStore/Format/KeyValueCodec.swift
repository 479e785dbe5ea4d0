#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import PyFlareWire

/// Value kinds as stored; the first eight equal ``ValueKind``'s raw values.
enum StoredValueKind {
    /// The value is the row's next entry in the `large_text` column.
    static let largeText: UInt8 = 0xFF
}

/// Serializes values of a batch: key/value lists (count, then per entry the key and a typed
/// value) and single values, their nested arrays and lists read from the batch's
/// ``OTLPBatch/nestedValues``.
struct KeyValueWriter<View: BatchView> {
    let view: View
    let arena: UnsafeRawBufferPointer

    init(view: View, arena: UnsafeRawBufferPointer) {
        self.view = view
        self.arena = arena
    }

    @inline(__always)
    func string(_ ref: StringRef, into out: inout ByteWriter) {
        out.lengthPrefixed(UnsafeRawBufferPointer(rebasing: arena[ref.range]))
    }

    func keyValues(_ range: RowRange, of table: AttributeTable, into out: inout ByteWriter) {
        out.varint(Int(range.count))
        for row in range.indices {
            string(table.keys[row], into: &out)
            value(kind: table.kinds[row], payload: table.payloads[row], into: &out)
        }
    }

    /// Like ``keyValues(_:of:into:)``, moving large text to `largeText` and leaving a placeholder.
    func keyValues(_ range: RowRange, of table: AttributeTable, into out: inout ByteWriter, largeText: inout ByteWriter) {
        out.varint(Int(range.count))
        for row in range.indices {
            let key = table.keys[row]
            string(key, into: &out)
            let kind = table.kinds[row], payload = table.payloads[row]
            if kind == .string, LargeText.isLarge(key: UnsafeRawBufferPointer(rebasing: arena[key.range]),
                                                  length: StringRef(packed: payload).length) {
                out.byte(StoredValueKind.largeText)
                string(StringRef(packed: payload), into: &largeText)
            } else {
                value(kind: kind, payload: payload, into: &out)
            }
        }
    }

    func value(kind: ValueKind, payload: UInt64, into out: inout ByteWriter) {
        out.byte(kind.rawValue)
        switch kind {
        case .empty: break
        case .string, .bytes: string(StringRef(packed: payload), into: &out)
        case .bool: out.byte(payload != 0 ? 1 : 0)
        case .int: out.zigzag(Int64(bitPattern: payload))
        case .double: out.fixed64(payload)
        case .array:
            let range = RowRange(packed: payload)
            out.varint(Int(range.count))
            for row in range.indices {
                value(kind: view.batch.nestedValues.kinds[row], payload: view.batch.nestedValues.payloads[row], into: &out)
            }
        case .keyValueList:
            keyValues(RowRange(packed: payload), of: view.batch.nestedValues, into: &out)
        }
    }
}

/// Which span attributes are large text (prompts, completions, documents), kept in their own column.
enum LargeText {
    /// Any string at least this long is large text, whatever its key.
    static let minimumLength = 256

    static let keys: [[UInt8]] = [
        "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions", "gen_ai.prompt",
        "gen_ai.completion", "input.value", "output.value", "llm.input_messages", "llm.output_messages",
        "llm.prompts", "gen_ai.retrieval.documents", "gen_ai.tool.call.arguments", "gen_ai.tool.call.result",
        "traceloop.entity.input", "traceloop.entity.output",
    ].map { Array($0.utf8) }

    /// OpenLLMetry and OpenInference flatten messages: `gen_ai.prompt.0.content`, `llm.input_messages.0.message.content`.
    static let prefixes: [[UInt8]] = ["gen_ai.prompt.", "gen_ai.completion.", "llm.input_messages.", "llm.output_messages."]
        .map { Array($0.utf8) }

    @inline(__always)
    static func isLarge(key: UnsafeRawBufferPointer, length: Int) -> Bool {
        if length >= minimumLength { return true }
        if length == 0 { return false }
        for candidate in keys where candidate.count == key.count && startsWith(key, candidate) { return true }
        for prefix in prefixes where prefix.count < key.count && startsWith(key, prefix) { return true }
        return false
    }

    @inline(__always)
    private static func startsWith(_ text: UnsafeRawBufferPointer, _ prefix: [UInt8]) -> Bool {
        prefix.withUnsafeBytes { memcmp(text.baseAddress!, $0.baseAddress!, prefix.count) == 0 }
    }
}
