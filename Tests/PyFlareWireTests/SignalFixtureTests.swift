import PyFlareWire
import Testing

/// An `ExportLogsServiceRequest` or `ExportMetricsServiceRequest` (their envelopes share field
/// numbers) with one resource (`service.name`) and one scope holding `records` (`LogRecord` or
/// `Metric` messages).
func exportRequest(_ records: [[UInt8]]) -> [UInt8] {
    var writer = ProtoWriter()
    writer.messageField(1) { resource in
        resource.messageField(1) { $0.messageField(1) { $0.stringField(1, "service.name"); $0.messageField(2) { $0.stringField(1, "svc") } } }
        resource.messageField(2) { scope in
            scope.messageField(1) { $0.stringField(1, "scope") }
            for record in records { scope.bytesField(2, record) }
        }
    }
    return writer.bytes
}

/// The log and metric fixtures, for the checks both signals get alike.
enum SignalFixture: String, CaseIterable, CustomTestStringConvertible {
    case logs, metrics

    var testDescription: String { rawValue }

    /// The message `<signal>.pb` holds, as ``ProtoRewriter`` names it.
    var requestMessage: String { self == .logs ? "ExportLogsServiceRequest" : "ExportMetricsServiceRequest" }

    /// The members of the JSON envelope: resources, scopes, records.
    var jsonKeys: (resources: String, scopes: String, records: String) {
        self == .logs ? ("resourceLogs", "scopeLogs", "logRecords") : ("resourceMetrics", "scopeMetrics", "metrics")
    }

    func bytes(json: Bool) throws -> [UInt8] { try Fixtures.bytes("\(rawValue).\(json ? "json" : "pb")") }

    func expected() throws -> [Description] {
        self == .logs ? try Expected.logs("logs.expected.json") : try Expected.points("metrics.expected.json")
    }

    /// What a decode gave: each record described, the refusals, and whether every reference was in bounds.
    struct Decoded {
        var records: [Description]
        var rejectedCount: Int
        var isConsistent: Bool
    }

    func decode(_ payload: [UInt8], json: Bool) throws(WireError) -> Decoded {
        switch self {
        case .logs:
            let batch = json ? try LogBatch.decodeJSON(payload) : try LogBatch.decodeProtobuf(payload)
            let consistent = batchIsConsistent(batch)
            return Decoded(records: consistent ? Describe.logs(batch) : [], rejectedCount: batch.rejectedCount, isConsistent: consistent)
        case .metrics:
            let batch = json ? try MetricBatch.decodeJSON(payload) : try MetricBatch.decodeProtobuf(payload)
            let consistent = batchIsConsistent(batch)
            return Decoded(records: consistent ? Describe.points(batch) : [], rejectedCount: batch.rejectedCount, isConsistent: consistent)
        }
    }
}

@Suite("Log and metric fixtures")
struct SignalFixtureTests {
    @Test("The protobuf and the JSON fixture decode to the expected description, every field of every record",
          arguments: SignalFixture.allCases, [false, true])
    func fixtures(signal: SignalFixture, json: Bool) throws {
        let decoded = try signal.decode(signal.bytes(json: json), json: json)
        #expect(decoded.isConsistent)
        #expect(decoded.rejectedCount == 0)
        expectSame(decoded.records, try signal.expected(), "\(signal).\(json ? "json" : "pb")")
    }

    @Test("The description comparison notices a change in any field, and a missing record", arguments: SignalFixture.allCases)
    func comparisonIsStrict(signal: SignalFixture) throws {
        let expected = try signal.expected()
        #expect(differences(expected, expected).isEmpty)
        for field in expected[0].indices {
            var changed = expected
            changed[0][field].text += "x"
            #expect(differences(changed, expected).count == 1, "field \(expected[0][field].field)")
        }
        #expect(!differences(Array(expected.dropLast()), expected).isEmpty)
    }

    @Test("Rewritings of the JSON fixture decode the same", arguments: SignalFixture.allCases, JSONVariant.allCases)
    func jsonVariants(signal: SignalFixture, variant: JSONVariant) throws {
        let document = try TestJSON.parse(signal.bytes(json: true))
        let text = variant.apply(to: document)
        if variant != .reserialized {
            #expect(text != JSONVariant.reserialized.apply(to: document), "the \(variant) rewriting changed nothing")
        }
        let decoded = try signal.decode(Array(text.utf8), json: true)
        #expect(decoded.rejectedCount == 0)
        expectSame(decoded.records, try signal.expected(), "\(signal), \(variant)")
    }

    static let layouts: [(String, EncodeOptions, ProtoRewriter.Packing)] = ProtobufDecoderTests.layouts.map { ($0.0, $0.1, .keep) } + [
        ("packed fields unpacked", EncodeOptions(), .unpack),
        ("packed fields in two runs", EncodeOptions(), .split),
        ("unpacked, reversed, with unknown and wrong-wire-type fields", EncodeOptions(unknownFields: true, wrongWireTypes: true, order: .reversed), .unpack),
        ("two runs, shuffled", EncodeOptions(order: .shuffled(seed: 7)), .split),
    ]

    @Test("Unknown fields, wrong wire types, field order and packing do not change the decode",
          arguments: SignalFixture.allCases, 0..<layouts.count)
    func protobufLayouts(signal: SignalFixture, layout: Int) throws {
        let (label, options, packing) = Self.layouts[layout]
        let original = try signal.bytes(json: false)
        var rewriter = ProtoRewriter(options, packing: packing)
        let payload = rewriter.rewrite(original, as: signal.requestMessage)
        // Logs have no packed fields: repacking them changes nothing.
        #expect(payload != original || (signal == .logs && packing != .keep), "the \(label) layout must differ from the original")
        let decoded = try signal.decode(payload, json: false)
        #expect(decoded.rejectedCount == 0)
        expectSame(decoded.records, try signal.expected(), "\(signal), \(label)")
    }

    @Test("The rewriter without options reproduces the fixture byte for byte", arguments: SignalFixture.allCases)
    func rewriterIsFaithful(signal: SignalFixture) throws {
        let original = try signal.bytes(json: false)
        var rewriter = ProtoRewriter()
        #expect(rewriter.rewrite(original, as: signal.requestMessage) == original)
    }

    @Test("Empty requests give empty batches", arguments: SignalFixture.allCases)
    func emptyRequests(signal: SignalFixture) throws {
        let empty = try signal.decode([], json: false)
        #expect(empty.records.isEmpty && empty.rejectedCount == 0)
        let keys = signal.jsonKeys
        for text in ["{}", " {\n} ", #"{"\#(keys.resources)":[]}"#, #"{"\#(keys.resources)":null}"#,
                     #"{"\#(keys.resources)":[{"\#(keys.scopes)":[{"\#(keys.records)":[]}]}]}"#] {
            let decoded = try signal.decode(Array(text.utf8), json: true)
            #expect(decoded.records.isEmpty && decoded.rejectedCount == 0, "\(text)")
        }
    }
}
