import PyFlareTesting
import PyFlareWire
import Testing

/// The JSON text `body` writes, checked to parse.
func writtenJSON(_ body: (inout JSONWriter) -> Void) throws -> (text: String, tree: TestJSON) {
    var writer = JSONWriter()
    body(&writer)
    let text = try #require(String(validating: writer.bytes, as: UTF8.self), "JSONWriter wrote invalid UTF-8: \(writer.bytes)")
    return (text, try TestJSON.parse(writer.bytes))
}

@Suite("OTLP responses")
struct OTLPResponseTests {
    @Test("Full success: an empty protobuf body and {} in JSON")
    func fullSuccess() {
        #expect(OTLPResponse.exportProtobuf(rejected: 0, message: nil) == [])
        #expect(OTLPResponse.exportProtobuf(rejected: 0, message: "") == [])
        for signal in [OTLPResponse.Signal.traces, .logs, .metrics] {
            #expect(OTLPResponse.exportJSON(signal: signal, rejected: 0, message: nil) == Array("{}".utf8))
        }
    }

    @Test("Partial success in protobuf: partial_success (1) with rejected count (1) and error message (2)")
    func partialSuccessProtobuf() {
        #expect(OTLPResponse.exportProtobuf(rejected: 3, message: "bad") ==
                [0x0A, 0x07, 0x08, 0x03, 0x12, 0x03, UInt8(ascii: "b"), UInt8(ascii: "a"), UInt8(ascii: "d")])
        // A count needing a multi-byte varint.
        #expect(OTLPResponse.exportProtobuf(rejected: 300, message: nil) == [0x0A, 0x03, 0x08, 0xAC, 0x02])
        // A message without rejections (a warning).
        #expect(OTLPResponse.exportProtobuf(rejected: 0, message: "careful") == [0x0A, 0x09, 0x12, 0x07] + Array("careful".utf8))
        // Long UTF-8 messages keep their bytes.
        let long = String(repeating: "é", count: 100)
        let body = OTLPResponse.exportProtobuf(rejected: 1, message: long)
        #expect(body.count == 1 + 2 + (2 + 1 + 2 + 200))  // tag, 2-byte length, count field, message field
        #expect(Array(body.suffix(200)) == Array(long.utf8))
    }

    @Test("Partial success in JSON: rejected count as an int64 string, errorMessage escaped")
    func partialSuccessJSON() throws {
        let traces = OTLPResponse.exportJSON(signal: .traces, rejected: 3, message: "bad \"id\"\n")
        #expect(String(decoding: traces, as: UTF8.self) == #"{"partialSuccess":{"rejectedSpans":"3","errorMessage":"bad \"id\"\n"}}"#)
        let tree = try TestJSON.parse(traces)
        #expect(tree["partialSuccess"]?["errorMessage"] == .string("bad \"id\"\n"))

        let logs = try TestJSON.parse(OTLPResponse.exportJSON(signal: .logs, rejected: 2, message: nil))
        #expect(logs == .object([.init(key: "partialSuccess", value: .object([.init(key: "rejectedLogRecords", value: .string("2"))]))]))
        let metrics = try TestJSON.parse(OTLPResponse.exportJSON(signal: .metrics, rejected: 5, message: "m"))
        #expect(metrics["partialSuccess"]?["rejectedDataPoints"] == .string("5"))
        #expect(metrics["partialSuccess"]?["errorMessage"] == .string("m"))
    }

    @Test("Partial-success protobuf layout with a real rejection message")
    func partialSuccessLayout() throws {
        let body = OTLPResponse.exportProtobuf(rejected: 2, message: "span at byte 10 has an empty or all-zero trace_id")
        #expect(body[0] == 0x0A)
        #expect(Int(body[1]) == body.count - 2)
        #expect(Array(body[2...4]) == [0x08, 0x02, 0x12])
        #expect(Int(body[5]) == body.count - 6)
        #expect(String(decoding: body[6...], as: UTF8.self) == "span at byte 10 has an empty or all-zero trace_id")
    }

    @Test("google.rpc.Status bodies")
    func statusBodies() throws {
        #expect(OTLPResponse.statusProtobuf(code: 3, message: "bad payload") == [0x08, 0x03, 0x12, 0x0B] + Array("bad payload".utf8))
        #expect(OTLPResponse.statusProtobuf(code: 8, message: "") == [0x08, 0x08, 0x12, 0x00])
        #expect(String(decoding: OTLPResponse.statusJSON(code: 14, message: "try \"later\""), as: UTF8.self)
                == #"{"code":14,"message":"try \"later\""}"#)
        let tree = try TestJSON.parse(OTLPResponse.statusJSON(code: 3, message: "ünïcode ✓\u{1}"))
        #expect(tree["code"] == .number("3"))
        #expect(tree["message"] == .string("ünïcode ✓\u{1}"))
    }
}

@Suite("JSONWriter")
struct JSONWriterTests {
    @Test("Quotes, backslashes and control characters are escaped")
    func escaping() throws {
        let (text, tree) = try writtenJSON { $0.string("a\"b\\c/d\n\r\t\u{0}\u{8}\u{C}\u{1F} \u{7F}") }
        #expect(text == #""a\"b\\c/d\n\r\t\u0000\u0008\u000c\u001f \#u{7F}""#)
        #expect(tree == .string("a\"b\\c/d\n\r\t\u{0}\u{8}\u{C}\u{1F} \u{7F}"))
        // Every control character becomes an escape that reads back as itself.
        let controls = String((0..<0x20).map { Character(Unicode.Scalar(UInt8($0))) })
        let (controlText, controlTree) = try writtenJSON { $0.string(controls) }
        #expect(!controlText.utf8.contains { $0 < 0x20 })
        #expect(controlTree == .string(controls))
    }

    @Test("Valid multi-byte UTF-8 is copied through")
    func multiByte() throws {
        let sample = "é ✓ 日本 🚀 \u{10FFFF} \u{800} \u{FFFF}"
        let (text, tree) = try writtenJSON { $0.string(sample) }
        #expect(text == "\"" + sample + "\"")
        #expect(tree == .string(sample))
    }

    @Test("Invalid UTF-8 is repaired to U+FFFD, valid neighbours kept", arguments: [
        ([0x61, 0xFF, 0x62], "a\u{FFFD}b"),
        ([0x80], "\u{FFFD}"),
        ([0xC3], "\u{FFFD}"),  // truncated 2-byte sequence at the end
        ([0xC0, 0xAF], "\u{FFFD}\u{FFFD}"),  // overlong "/"
        ([0xE0, 0x80, 0xAF], "\u{FFFD}\u{FFFD}\u{FFFD}"),  // overlong 3-byte
        ([0xED, 0xA0, 0x80], "\u{FFFD}\u{FFFD}\u{FFFD}"),  // a UTF-16 surrogate
        ([0xF4, 0x90, 0x80, 0x80], "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}"),  // above U+10FFFF
        ([0xC3, 0xA9, 0xFE, 0x22, 0xE2, 0x9C, 0x93], "é\u{FFFD}\"✓"),
    ] as [([UInt8], String)])
    func invalidUTF8(input: [UInt8], expected: String) throws {
        var writer = JSONWriter()
        input.withUnsafeBytes { writer.string(utf8: $0) }
        let text = try #require(String(validating: writer.bytes, as: UTF8.self), "output is not valid UTF-8: \(writer.bytes)")
        #expect(text.contains("\u{FFFD}"))
        #expect(try TestJSON.parse(writer.bytes) == .string(expected), "\(input) → \(text)")
    }

    @Test("Numbers, booleans and null")
    func scalars() throws {
        var writer = JSONWriter()
        writer.byte(UInt8(ascii: "["))
        writer.int(0); writer.byte(UInt8(ascii: ","))
        writer.int(-42); writer.byte(UInt8(ascii: ","))
        writer.int(.min); writer.byte(UInt8(ascii: ","))
        writer.int(.max); writer.byte(UInt8(ascii: ","))
        writer.uint(.max); writer.byte(UInt8(ascii: ","))
        writer.double(2.5); writer.byte(UInt8(ascii: ","))
        writer.double(.nan); writer.byte(UInt8(ascii: ","))
        writer.double(.infinity); writer.byte(UInt8(ascii: ","))
        writer.double(-.infinity); writer.byte(UInt8(ascii: ","))
        writer.double(1e300); writer.byte(UInt8(ascii: ","))
        writer.bool(true); writer.byte(UInt8(ascii: ","))
        writer.bool(false); writer.byte(UInt8(ascii: ","))
        writer.null()
        writer.byte(UInt8(ascii: "]"))
        let text = String(decoding: writer.bytes, as: UTF8.self)
        #expect(text == #"[0,-42,-9223372036854775808,9223372036854775807,18446744073709551615,2.5,"NaN","Infinity","-Infinity",1e+300,true,false,null]"#)
        #expect(throws: Never.self) { try TestJSON.parse(writer.bytes) }
    }

    @Test("Micro-amounts are written exactly, as the same number as value / 1e6")
    func micros() throws {
        let samples: [Int64] = [0, 1, 10, 999_999, 1_000_000, 1_114_880, 5_000_000, 123_456_789, -1, -2_500_000, 9_007_199_254_740_991]
        var random = SystemRandomNumberGenerator()
        for value in samples + (0..<2_000).map({ _ in Int64.random(in: -10_000_000_000...10_000_000_000, using: &random) }) {
            var writer = JSONWriter()
            writer.micros(value)
            let text = String(decoding: writer.bytes, as: UTF8.self)
            #expect(Double(text) == Double(value) / 1e6, "\(value) → \(text)")
            #expect(text.contains("."), "\(value) → \(text) reads back as an integer")
        }
        for (value, text) in [(Int64(0), "0.0"), (1, "0.000001"), (1_114_880, "1.11488"), (5_000_000, "5.0"), (-2_500_000, "-2.5")] {
            var writer = JSONWriter()
            writer.micros(value)
            #expect(String(decoding: writer.bytes, as: UTF8.self) == text)
        }
    }

    @Test("Keys and raw text")
    func keys() {
        var writer = JSONWriter()
        writer.raw("{")
        writer.key("a")
        writer.string("b")
        writer.raw("}")
        #expect(writer.bytes == Array(#"{"a":"b"}"#.utf8))
    }

    @Test("Strings written by JSONWriter decode back through SpanBatch.decodeJSON")
    func writerFeedsDecoder() throws {
        var random = SeededGenerator(seed: 7)
        let alphabet: [Character] = ["a", "\"", "\\", "/", "\n", "\u{0}", "\u{1F}", "é", "✓", "🚀", "\u{FFFD}", " ", "{", "]"]
        for _ in 0..<200 {
            let text = String((0..<Int.random(in: 0...20, using: &random)).map { _ in alphabet.randomElement(using: &random)! })
            var writer = JSONWriter()
            writer.raw(#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"#)
            writer.string(text)
            writer.raw("}]}]}]}")
            let batch = try SpanBatch.decodeJSON(writer.bytes)
            #expect(batch.names.first.map { batch.string($0) } == text)
        }
    }
}

@Suite("Base64 and Hex")
struct Base64HexTests {
    @Test("RFC 4648 test vectors")
    func vectors() {
        let vectors = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")]
        for (plain, encoded) in vectors {
            var out: [UInt8] = []
            Base64.encode(Array(plain.utf8), to: &out)
            #expect(String(decoding: out, as: UTF8.self) == encoded)
            var back: [UInt8] = []
            #expect(Base64.decode(Array(encoded.utf8), to: &back))
            #expect(back == Array(plain.utf8))
        }
    }

    @Test("Random bytes round-trip, with and without padding")
    func roundTrip() {
        var random = SeededGenerator(seed: 64)
        for length in 0..<200 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            var encoded: [UInt8] = []
            Base64.encode(bytes, to: &encoded)
            #expect(encoded.count == (length + 2) / 3 * 4)
            var decoded: [UInt8] = []
            #expect(Base64.decode(encoded, to: &decoded))
            #expect(decoded == bytes)
            var unpadded: [UInt8] = []
            #expect(Base64.decode(encoded.filter { $0 != UInt8(ascii: "=") }, to: &unpadded))
            #expect(unpadded == bytes)
        }
    }

    @Test("Decoding appends, accepts the URL-safe alphabet and refuses other characters")
    func decodeRules() {
        var out: [UInt8] = [9]
        #expect(Base64.decode(Array("AAH/".utf8), to: &out))
        #expect(out == [9, 0, 1, 255])
        var urlSafe: [UInt8] = []
        #expect(Base64.decode(Array("-_8".utf8), to: &urlSafe))
        #expect(urlSafe == [0xFB, 0xFF])
        for bad in ["A*B=", "AA AA", "AA\nAA", "é", "AA\u{0}A"] {
            var sink: [UInt8] = []
            #expect(!Base64.decode(Array(bad.utf8), to: &sink), "\(bad.debugDescription)")
        }
        var bytes: [UInt8] = []
        #expect(Base64.decode([0xFF, 0x80], to: &bytes) == false)
    }

    @Test("Hex strings of span ids, trace ids and bytes")
    func hexStrings() {
        #expect(Hex.string(UInt64(0)) == "0000000000000000")
        #expect(Hex.string(UInt64(0x00F0_67AA_0BA9_02B7)) == "00f067aa0ba902b7")
        #expect(Hex.string(UInt64.max) == "ffffffffffffffff")
        #expect(Hex.string(TraceID(high: 0x4BF9_2F35_77B3_4DA6, low: 0xA3CE_929D_0E0E_4736)) == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(Hex.string(TraceID.zero) == String(repeating: "0", count: 32))
        #expect(Hex.string(bytes: [0x00, 0x01, 0xAB, 0xFF]) == "0001abff")
        #expect(Hex.string(bytes: []) == "")
        var out: [UInt8] = Array("x".utf8)
        Hex.append(0x0123_4567_89AB_CDEF, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "x0123456789abcdef")
    }

    @Test("Parsing hex ids: either case, exact length, hex digits only")
    func hexParsing() {
        #expect(Hex.parseSpanID("00f067aa0ba902b7") == 0x00F0_67AA_0BA9_02B7)
        #expect(Hex.parseSpanID("00F067AA0BA902B7") == 0x00F0_67AA_0BA9_02B7)
        #expect(Hex.parseSpanID("FFFFFFFFFFFFFFFF") == .max)
        #expect(Hex.parseSpanID("00f067aa0ba902b") == nil)
        #expect(Hex.parseSpanID("00f067aa0ba902b70") == nil)
        #expect(Hex.parseSpanID("00f067aa0ba902bg") == nil)
        #expect(Hex.parseSpanID("") == nil)
        #expect(Hex.parseSpanID("+0f067aa0ba902b7") == nil)
        #expect(Hex.parseTraceID("4bf92f3577b34da6a3ce929d0e0e4736") == TraceID(high: 0x4BF9_2F35_77B3_4DA6, low: 0xA3CE_929D_0E0E_4736))
        #expect(Hex.parseTraceID("4BF92F3577B34DA6A3CE929D0E0E4736") == TraceID(high: 0x4BF9_2F35_77B3_4DA6, low: 0xA3CE_929D_0E0E_4736))
        #expect(Hex.parseTraceID("4bf92f3577b34da6a3ce929d0e0e473") == nil)
        #expect(Hex.parseTraceID("4bf92f3577b34da6a3ce929d0e0e473x") == nil)
        #expect(Hex.parseTraceID("x4bf92f3577b34da6a3ce929d0e0e473") == nil)
        // Round trip through random ids.
        var random = SeededGenerator(seed: 3)
        for _ in 0..<100 {
            let id = random.traceID()
            #expect(Hex.parseTraceID(Hex.string(id)) == id)
            #expect(Hex.parseTraceID(Hex.string(id).uppercased()) == id)
            #expect(Hex.string(bytes: id.bytes) == Hex.string(id))
            let span = random.next()
            #expect(Hex.parseSpanID(Hex.string(span)) == span)
        }
    }
}
