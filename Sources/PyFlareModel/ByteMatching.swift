import Foundation
import PyFlareWire

/// Matching attribute text against known names without creating Strings on the hot path.
enum ByteMatching {
    /// ASCII case-insensitive equality of `text` and `name` (`name` is lower case).
    @inline(__always)
    static func equalsIgnoringCase(_ text: UnsafeRawBufferPointer, _ name: [UInt8]) -> Bool {
        guard text.count == name.count else { return false }
        for index in 0..<name.count {
            var byte = text[index]
            if byte >= UInt8(ascii: "A"), byte <= UInt8(ascii: "Z") { byte |= 0x20 }
            if byte != name[index] { return false }
        }
        return true
    }

    /// FNV-1a of bytes, for content-keyed caches.
    @inline(__always)
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return hash
    }
}

/// A short stable fingerprint of text: FNV-1a as 16 lowercase hex digits (price-list
/// versions, pattern ids).
public func fingerprint(_ text: String) -> String {
    var text = text
    let hex = String(text.withUTF8 { ByteMatching.hash(UnsafeRawBufferPointer($0)) }, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}

extension AIKind {
    private static let conventionNames: [(name: [UInt8], kind: AIKind)] =
        allCases.filter { $0 != .none }.map { (Array("\($0)".utf8), $0) }

    private static let operationNames: [(name: [UInt8], kind: AIKind)] = ([
        ("chat", .llm), ("text_completion", .llm), ("generate_content", .llm), ("completion", .llm), ("responses", .llm),
        ("embeddings", .embedding), ("embedding", .embedding), ("execute_tool", .tool),
        ("invoke_agent", .agent), ("create_agent", .agent),
        ("retrieval", .retriever), ("retrieve", .retriever), ("search", .retriever), ("rerank", .reranker),
    ] as [(String, AIKind)]).map { (Array($0.0.utf8), $0.1) }

    /// From `openinference.span.kind` (upper case) or `traceloop.span.kind` (lower case).
    init(conventionName text: UnsafeRawBufferPointer) {
        self = Self.conventionNames.first { ByteMatching.equalsIgnoringCase(text, $0.name) }?.kind ?? .none
    }

    /// From `gen_ai.operation.name` and its equivalents.
    init(operation text: UnsafeRawBufferPointer) {
        self = Self.operationNames.first { ByteMatching.equalsIgnoringCase(text, $0.name) }?.kind ?? .none
    }
}

/// Price lookups of one batch, keyed by the model name's bytes: a batch names few models
/// but many spans, so each distinct name is looked up (and turned into a String) once.
struct PriceLookupCache {
    /// The batch's snapshot of the prices.
    let pricing: PricingTable
    private var entries: [UInt64: [(name: [UInt8], index: Int?)]] = [:]

    init(pricing: PricingTable) {
        self.pricing = pricing
    }

    mutating func index(for model: StringRef, in batch: SpanBatch) -> Int? {
        batch.withBytes(model) { bytes in
            let key = ByteMatching.hash(bytes)
            if let candidates = entries[key], let hit = candidates.first(where: { $0.name.elementsEqual(bytes) }) {
                return hit.index
            }
            let index = pricing.index(for: String(decoding: bytes, as: UTF8.self))
            entries[key, default: []].append((Array(bytes), index))
            return index
        }
    }
}
