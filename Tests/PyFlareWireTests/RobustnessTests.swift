import PyFlareTesting
import PyFlareWire
import Testing

/// What decoding hostile input led to, checked without one `#expect` per input.
struct Outcomes {
    var decoded = 0
    var failed = 0
    var codes: Set<String> = []
    /// Inputs that decoded into a batch with an out-of-bounds reference, or failed with a bad offset.
    var problems: [String] = []

    mutating func record(_ label: @autoclosure () -> String, payloadCount: Int, _ decode: () throws(WireError) -> SpanBatch) {
        record(label(), payloadCount: payloadCount, consistent: batchIsConsistent, decode)
    }

    /// Records one decode of any signal; `consistent` checks a decoded batch's references.
    mutating func record<Batch>(_ label: @autoclosure () -> String, payloadCount: Int, consistent: (Batch) -> Bool,
                                _ decode: () throws(WireError) -> Batch) {
        do {
            let batch = try decode()
            decoded += 1
            if !consistent(batch) { problems.append("\(label()): inconsistent batch") }
        } catch {
            failed += 1
            codes.insert(error.code.description)
            if error.offset < 0 || error.offset > payloadCount || error.message.isEmpty {
                problems.append("\(label()): \(error.code) at \(error.offset) of \(payloadCount): \(error.message)")
            }
        }
    }
}

/// Encoded length of a varint.
func varintLength(_ value: Int) -> Int {
    var length = 1
    var rest = UInt64(value) >> 7
    while rest > 0 {
        length += 1
        rest >>= 7
    }
    return length
}

/// An `AnyValue` nesting `depth` arrays (or key/value lists) around an int, built iteratively:
/// sizes are computed inside out, headers written outside in, so no level is copied twice.
func nestedAnyValue(depth: Int, keyValueLists: Bool = false) -> [UInt8] {
    var inner = ProtoWriter()
    inner.varintField(3, 7)
    var size = inner.bytes.count
    var headers: [[UInt8]] = []
    headers.reserveCapacity(depth)
    for _ in 0..<depth {
        var header = ProtoWriter()
        if keyValueLists {
            // AnyValue{kvlist_value: KeyValueList{values: [KeyValue{key: "k", value: <inner>}]}}
            let keyValue = 3 + 1 + varintLength(size) + size
            let list = 1 + varintLength(keyValue) + keyValue
            header.tag(6, 2); header.varint(UInt64(list))
            header.tag(1, 2); header.varint(UInt64(keyValue))
            header.stringField(1, "k")
            header.tag(2, 2); header.varint(UInt64(size))
        } else {
            // AnyValue{array_value: ArrayValue{values: [<inner>]}}
            let array = 1 + varintLength(size) + size
            header.tag(5, 2); header.varint(UInt64(array))
            header.tag(1, 2); header.varint(UInt64(size))
        }
        headers.append(header.bytes)
        size += header.bytes.count
    }
    var out: [UInt8] = []
    out.reserveCapacity(size)
    for header in headers.reversed() { out += header }
    out += inner.bytes
    precondition(out.count == size)
    return out
}

/// A request with one valid span whose single attribute has the `AnyValue` `value`.
func requestWithAttributeValue(_ value: [UInt8]) -> [UInt8] {
    var writer = ProtoWriter()
    writer.messageField(1) { resourceSpans in
        resourceSpans.messageField(2) { scopeSpans in
            scopeSpans.messageField(2) { span in
                span.bytesField(1, Array(1...16))
                span.bytesField(2, Array(1...8))
                span.messageField(9) { keyValue in
                    keyValue.stringField(1, "bomb")
                    keyValue.bytesField(2, value)
                }
            }
        }
    }
    return writer.bytes
}

@Suite("Hostile input", .timeLimit(.minutes(2)))
struct RobustnessTests {
    @Test("Every truncation of a protobuf fixture decodes or throws", arguments: ["full.pb", "genai.pb"])
    func protobufTruncations(fixture: String) throws {
        let payload = try Fixtures.bytes(fixture)
        var outcomes = Outcomes()
        for length in 0..<payload.count {
            let prefix = Array(payload[..<length])
            outcomes.record("prefix \(length)", payloadCount: length) { () throws(WireError) in try SpanBatch.decodeProtobuf(prefix) }
        }
        #expect(outcomes.decoded + outcomes.failed == payload.count)
        #expect(outcomes.decoded >= 1)  // at least the empty prefix
        #expect(outcomes.failed > payload.count / 2)
        #expect(outcomes.codes.contains("truncated"))
        #expect(outcomes.problems.isEmpty, "\(outcomes.problems.prefix(20))")
    }

    @Test("Every truncation of full.json decodes or throws")
    func jsonTruncations() throws {
        let payload = try Fixtures.bytes("full.json")
        var outcomes = Outcomes()
        for length in 0..<payload.count {
            let prefix = Array(payload[..<length])
            outcomes.record("prefix \(length)", payloadCount: length) { () throws(WireError) in try SpanBatch.decodeJSON(prefix) }
        }
        #expect(outcomes.decoded + outcomes.failed == payload.count)
        // Only the document without its final newline is complete.
        #expect(outcomes.decoded == 1)
        #expect(outcomes.problems.isEmpty, "\(outcomes.problems.prefix(20))")
    }

    /// Copies of `payload` with one to four bytes changed (replaced, bit-flipped or set to an extreme).
    static func mutations(of payload: [UInt8], count: Int, seed: UInt64) -> [[UInt8]] {
        var random = SeededGenerator(seed: seed)
        var out: [[UInt8]] = []
        out.reserveCapacity(count)
        for _ in 0..<count {
            var copy = payload
            let changes = Int.random(in: 1...4, using: &random)
            for _ in 0..<changes {
                let index = Int.random(in: 0..<copy.count, using: &random)
                switch Int.random(in: 0..<4, using: &random) {
                case 0: copy[index] = UInt8.random(in: 0...255, using: &random)
                case 1: copy[index] ^= 1 << UInt8.random(in: 0..<8, using: &random)
                case 2: copy[index] = [0x00, 0xFF, 0x80, 0x7F][Int.random(in: 0..<4, using: &random)]
                default: copy[index] = [UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "{"), UInt8(ascii: "]"),
                                        UInt8(ascii: ","), UInt8(ascii: "-"), UInt8(ascii: "9")][Int.random(in: 0..<7, using: &random)]
                }
            }
            out.append(copy)
        }
        return out
    }

    @Test("5,000 random byte flips of each protobuf fixture decode or throw", arguments: ["full.pb", "genai.pb"])
    func protobufFlips(fixture: String) throws {
        let payload = try Fixtures.bytes(fixture)
        var outcomes = Outcomes()
        for (number, mutated) in Self.mutations(of: payload, count: 5_000, seed: 0xF1A5_0001).enumerated() {
            outcomes.record("mutation \(number)", payloadCount: mutated.count) { () throws(WireError) in try SpanBatch.decodeProtobuf(mutated) }
        }
        #expect(outcomes.decoded + outcomes.failed == 5_000)
        #expect(outcomes.decoded > 0 && outcomes.failed > 0)
        #expect(outcomes.problems.isEmpty, "\(outcomes.problems.prefix(20))")
    }

    @Test("2,000 random byte flips of full.json decode or throw")
    func jsonFlips() throws {
        let payload = try Fixtures.bytes("full.json")
        var outcomes = Outcomes()
        for (number, mutated) in Self.mutations(of: payload, count: 2_000, seed: 0xF1A5_0002).enumerated() {
            outcomes.record("mutation \(number)", payloadCount: mutated.count) { () throws(WireError) in try SpanBatch.decodeJSON(mutated) }
        }
        #expect(outcomes.decoded + outcomes.failed == 2_000)
        #expect(outcomes.decoded > 0 && outcomes.failed > 0)
        #expect(outcomes.problems.isEmpty, "\(outcomes.problems.prefix(20))")
    }

    // MARK: Bombs

    @Test("AnyValue nesting: 64 levels decode, 65 throw .nestingTooDeep", arguments: [false, true])
    func protobufNestingLimit(keyValueLists: Bool) throws {
        let batch = try SpanBatch.decodeProtobuf(requestWithAttributeValue(nestedAnyValue(depth: SpanBatch.maxValueNesting, keyValueLists: keyValueLists)))
        try #require(batch.count == 1)
        var value = batch.value(in: batch.attributes, row: Int(batch.spanAttributes[0].start))
        var depth = 0
        while true {
            if case let .array(elements) = value, elements.count == 1 { value = elements[0] }
            else if case let .keyValueList(pairs) = value, pairs.count == 1, pairs[0].0 == "k" { value = pairs[0].1 }
            else { break }
            depth += 1
        }
        #expect(depth == SpanBatch.maxValueNesting)
        #expect(value == .int(7))
        let error = protobufError(requestWithAttributeValue(nestedAnyValue(depth: SpanBatch.maxValueNesting + 1, keyValueLists: keyValueLists)))
        #expect(error?.code == .nestingTooDeep)
    }

    @Test("A protobuf nesting bomb 10,000 deep throws .nestingTooDeep without overflowing the stack", arguments: [false, true])
    func protobufNestingBomb(keyValueLists: Bool) {
        let value = nestedAnyValue(depth: 10_000, keyValueLists: keyValueLists)
        let payload = requestWithAttributeValue(value)
        let error = protobufError(payload)
        #expect(error?.code == .nestingTooDeep)
        if let error { #expect(error.offset > 0 && error.offset < payload.count) }
    }

    @Test("A JSON nesting bomb 10,000 deep throws, in values and in unknown fields")
    func jsonNestingBomb() {
        let depth = 10_000
        let values = String(repeating: #"{"arrayValue":{"values":["#, count: depth) + String(repeating: "]}}", count: depth)
        let inAttribute = jsonRequest(spans: jsonSpan(#""attributes":[{"key":"k","value":\#(values)}]"#))
        #expect(jsonError(inAttribute)?.code == .nestingTooDeep)
        let unknown = #"{"x":"# + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}"
        #expect(jsonError(unknown)?.code == .invalidJSON)
        let unterminated = #"{"x":"# + String(repeating: #"{"a":["#, count: depth)
        #expect(jsonError(unterminated)?.code == .invalidJSON)
    }

    @Test("A length prefix of 2^62 (or 2^64-1) is .truncated, at any level")
    func hugeLengthPrefix() {
        for length: UInt64 in [1 << 62, UInt64.max, UInt64(Int.max)] {
            // Top level.
            var top = ProtoWriter()
            top.tag(1, 2)
            top.varint(length)
            top.bytes += [1, 2, 3]
            #expect(protobufError(top.bytes)?.code == .truncated)
            // An unknown field.
            var unknown = ProtoWriter()
            unknown.tag(77, 2)
            unknown.varint(length)
            #expect(protobufError(unknown.bytes)?.code == .truncated)
            // A span name, deep inside.
            var nested = ProtoWriter()
            nested.messageField(1) { resourceSpans in
                resourceSpans.messageField(2) { scopeSpans in
                    var span = ProtoWriter()
                    span.bytesField(1, Array(1...16))
                    span.tag(5, 2)
                    span.varint(length)
                    span.bytes += Array("name".utf8)
                    scopeSpans.bytesField(2, span.bytes)
                }
            }
            #expect(protobufError(nested.bytes)?.code == .truncated)
        }
    }
}
