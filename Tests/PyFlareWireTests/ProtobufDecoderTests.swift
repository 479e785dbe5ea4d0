import PyFlareTesting
import PyFlareWire
import Testing

// MARK: - A test-side protobuf encoder of span records

/// How ``ProtoRequestEncoder`` lays out every message it writes.
struct EncodeOptions {
    enum Order {
        case natural
        /// Fields in descending field number (repeated fields keep their relative order).
        case reversed
        /// A random interleaving of the fields (repeated fields keep their relative order).
        case shuffled(seed: UInt64)
    }

    /// Unknown fields of every wire type at the start, middle and end of every message.
    var unknownFields = false
    /// A copy of every known field with a wire type the schema does not give it.
    var wrongWireTypes = false
    /// With ``wrongWireTypes``: every copy as fixed32 (fixed64 for fixed32 fields), a wire type
    /// no field of the logs and metrics schemas accepts in another form, where the varied copies
    /// could hit a packed field's legal unpacked form.
    var fixed32Copies = false
    var order = Order.natural
}

/// Encodes ``SpanRecord``s back into an `ExportTraceServiceRequest`, at every message level
/// honoring ``EncodeOptions``. Proto3 defaults are omitted, as real encoders do.
///
/// Ids are hex; "" omits the field, "<empty>" writes a zero-length one.
struct ProtoRequestEncoder {
    var options: EncodeOptions
    private var random: SeededGenerator

    init(_ options: EncodeOptions = EncodeOptions()) {
        self.options = options
        if case let .shuffled(seed) = options.order { random = SeededGenerator(seed: seed) } else { random = SeededGenerator(seed: 1) }
    }

    /// Fields of one message before layout: (field number, wire type, encoded tag + value).
    struct Fields {
        var list: [(number: UInt32, wireType: UInt8, bytes: [UInt8])] = []

        mutating func varint(_ number: UInt32, _ value: UInt64) {
            var writer = ProtoWriter()
            writer.varintField(number, value)
            list.append((number, 0, writer.bytes))
        }

        mutating func fixed64(_ number: UInt32, _ value: UInt64) {
            var writer = ProtoWriter()
            writer.fixed64Field(number, value)
            list.append((number, 1, writer.bytes))
        }

        mutating func fixed32(_ number: UInt32, _ value: UInt32) {
            var writer = ProtoWriter()
            writer.fixed32Field(number, value)
            list.append((number, 5, writer.bytes))
        }

        mutating func bytes(_ number: UInt32, _ value: [UInt8]) {
            var writer = ProtoWriter()
            writer.bytesField(number, value)
            list.append((number, 2, writer.bytes))
        }

        mutating func string(_ number: UInt32, _ value: String) { bytes(number, Array(value.utf8)) }

        mutating func id(_ number: UInt32, _ hex: String) {
            if hex == "<empty>" { bytes(number, []) } else if !hex.isEmpty { bytes(number, hexBytes(hex)!) }
        }
    }

    static func unknownBlock(_ variant: Int) -> [UInt8] {
        var writer = ProtoWriter()
        // Numbers no OTLP trace message uses, the largest legal one included; the wire types rotate.
        let numbers: [UInt32] = [17, 99, 1000, 536_870_911]
        for slot in 0..<4 {
            let number = numbers[(slot + variant) % 4]
            switch slot {
            case 0: writer.varintField(number, UInt64.max)  // a 10-byte varint
            case 1: writer.fixed64Field(number, 0xDEAD_BEEF_0BAD_F00D)
            case 2: writer.bytesField(number, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x0B, 0x0C])  // not a valid message: must not be parsed
            default: writer.fixed32Field(number, 0xFFFF_FFFF)
            }
        }
        writer.messageField(20) { nested in
            nested.stringField(1, "looks like a key")
            nested.messageField(2) { $0.stringField(1, "looks like a value") }
        }
        return writer.bytes
    }

    /// The same field number with a wire type its schema does not give it (the decoder must skip it).
    static func wrongWireTypeCopy(number: UInt32, wireType: UInt8) -> [UInt8] {
        var writer = ProtoWriter()
        switch wireType {
        case 0: writer.fixed32Field(number, 12345)
        case 2: writer.varintField(number, 0x1234_5678_9ABC)
        case 1: writer.bytesField(number, [1, 2, 3, 4, 5, 6, 7, 8])
        default: writer.fixed64Field(number, 42)
        }
        return writer.bytes
    }

    static func fixed32Copy(number: UInt32, wireType: UInt8) -> [UInt8] {
        var writer = ProtoWriter()
        if wireType == 5 { writer.fixed64Field(number, 42) } else { writer.fixed32Field(number, 12345) }
        return writer.bytes
    }

    mutating func layout(_ fields: Fields) -> [UInt8] {
        var list = fields.list
        switch options.order {
        case .natural: break
        case .reversed:
            list = list.enumerated().sorted { ($0.element.number, $1.offset) > ($1.element.number, $0.offset) }.map(\.element)
        case .shuffled:
            var queues: [UInt32: [(number: UInt32, wireType: UInt8, bytes: [UInt8])]] = [:]
            var numbers: [UInt32] = []
            for field in list {
                if queues[field.number] == nil { numbers.append(field.number) }
                queues[field.number, default: []].append(field)
            }
            list = []
            while !numbers.isEmpty {
                let pick = Int(random.next() % UInt64(numbers.count))
                let number = numbers[pick]
                list.append(queues[number]!.removeFirst())
                if queues[number]!.isEmpty { numbers.remove(at: pick) }
            }
        }
        var out: [UInt8] = []
        if options.unknownFields { out += Self.unknownBlock(0) }
        for (index, field) in list.enumerated() {
            if options.wrongWireTypes {
                out += options.fixed32Copies ? Self.fixed32Copy(number: field.number, wireType: field.wireType)
                    : Self.wrongWireTypeCopy(number: field.number, wireType: field.wireType)
            }
            out += field.bytes
            if options.unknownFields, index == list.count / 2 { out += Self.unknownBlock(1) }
        }
        if options.unknownFields { out += Self.unknownBlock(2) }
        return out
    }

    mutating func anyValue(_ value: AttributeValue) -> [UInt8] {
        var fields = Fields()
        switch value {
        case .empty: break
        case let .string(text): fields.string(1, text)
        case let .bool(flag): fields.varint(2, flag ? 1 : 0)
        case let .int(number): fields.varint(3, UInt64(bitPattern: number))
        case let .double(number): fields.fixed64(4, number.bitPattern)
        case let .array(elements):
            var array = Fields()
            for element in elements { array.bytes(1, anyValue(element)) }
            fields.bytes(5, layout(array))
        case let .keyValueList(pairs):
            var list = Fields()
            for (key, element) in pairs { list.bytes(1, keyValue(key, element)) }
            fields.bytes(6, layout(list))
        case let .bytes(bytes): fields.bytes(7, bytes)
        }
        return layout(fields)
    }

    mutating func keyValue(_ key: String, _ value: AttributeValue) -> [UInt8] {
        var fields = Fields()
        if !key.isEmpty { fields.string(1, key) }
        fields.bytes(2, anyValue(value))
        return layout(fields)
    }

    mutating func span(_ span: SpanRecord) -> [UInt8] {
        var fields = Fields()
        fields.id(1, span.traceID)
        fields.id(2, span.spanID)
        if !span.traceState.isEmpty { fields.string(3, span.traceState) }
        fields.id(4, span.parentSpanID)
        if !span.name.isEmpty { fields.string(5, span.name) }
        if span.kind != 0 { fields.varint(6, UInt64(span.kind)) }
        if span.startTime != 0 { fields.fixed64(7, span.startTime) }
        if span.endTime != 0 { fields.fixed64(8, span.endTime) }
        for (key, value) in span.attributes { fields.bytes(9, keyValue(key, value)) }
        if span.droppedAttributes != 0 { fields.varint(10, UInt64(span.droppedAttributes)) }
        for event in span.events {
            var message = Fields()
            if event.time != 0 { message.fixed64(1, event.time) }
            if !event.name.isEmpty { message.string(2, event.name) }
            for (key, value) in event.attributes { message.bytes(3, keyValue(key, value)) }
            if event.droppedAttributes != 0 { message.varint(4, UInt64(event.droppedAttributes)) }
            fields.bytes(11, layout(message))
        }
        if span.droppedEvents != 0 { fields.varint(12, UInt64(span.droppedEvents)) }
        for link in span.links {
            var message = Fields()
            message.id(1, link.traceID)
            message.id(2, link.spanID)
            if !link.traceState.isEmpty { message.string(3, link.traceState) }
            for (key, value) in link.attributes { message.bytes(4, keyValue(key, value)) }
            if link.droppedAttributes != 0 { message.varint(5, UInt64(link.droppedAttributes)) }
            if link.flags != 0 { message.fixed32(6, link.flags) }
            fields.bytes(13, layout(message))
        }
        if span.droppedLinks != 0 { fields.varint(14, UInt64(span.droppedLinks)) }
        if span.statusCode != 0 || !span.statusMessage.isEmpty {
            var status = Fields()
            if !span.statusMessage.isEmpty { status.string(2, span.statusMessage) }
            if span.statusCode != 0 { status.varint(3, UInt64(span.statusCode)) }
            fields.bytes(15, layout(status))
        }
        if span.flags != 0 { fields.fixed32(16, span.flags) }
        return layout(fields)
    }

    /// Consecutive spans of one resource index share a `ResourceSpans`; consecutive spans of
    /// one scope (name, version, attributes, …) share a `ScopeSpans`.
    mutating func request(_ spans: [SpanRecord]) -> [UInt8] {
        var groups: [[[SpanRecord]]] = []
        var previous: SpanRecord?
        for span in spans {
            if let last = previous, last.resourceIndex == span.resourceIndex {
                if last.scopeName == span.scopeName, last.scopeVersion == span.scopeVersion,
                   identical(last.scopeAttributes, span.scopeAttributes),
                   last.scopeDroppedAttributes == span.scopeDroppedAttributes, last.scopeSchemaURL == span.scopeSchemaURL {
                    groups[groups.count - 1][groups[groups.count - 1].count - 1].append(span)
                } else {
                    groups[groups.count - 1].append([span])
                }
            } else {
                groups.append([[span]])
            }
            previous = span
        }
        var request = Fields()
        for resourceGroup in groups {
            let first = resourceGroup[0][0]
            var resourceSpans = Fields()
            var resource = Fields()
            for (key, value) in first.resourceAttributes { resource.bytes(1, keyValue(key, value)) }
            if first.resourceDroppedAttributes != 0 { resource.varint(2, UInt64(first.resourceDroppedAttributes)) }
            resourceSpans.bytes(1, layout(resource))
            for scopeGroup in resourceGroup {
                let head = scopeGroup[0]
                var scopeSpans = Fields()
                var scope = Fields()
                if !head.scopeName.isEmpty { scope.string(1, head.scopeName) }
                if !head.scopeVersion.isEmpty { scope.string(2, head.scopeVersion) }
                for (key, value) in head.scopeAttributes { scope.bytes(3, keyValue(key, value)) }
                if head.scopeDroppedAttributes != 0 { scope.varint(4, UInt64(head.scopeDroppedAttributes)) }
                scopeSpans.bytes(1, layout(scope))
                for span in scopeGroup { scopeSpans.bytes(2, self.span(span)) }
                if !head.scopeSchemaURL.isEmpty { scopeSpans.string(3, head.scopeSchemaURL) }
                resourceSpans.bytes(2, layout(scopeSpans))
            }
            if !first.resourceSchemaURL.isEmpty { resourceSpans.string(3, first.resourceSchemaURL) }
            request.bytes(1, layout(resourceSpans))
        }
        return layout(request)
    }
}

/// The error `decodeProtobuf` throws for `payload`, or nil if it decodes.
func protobufError(_ payload: [UInt8]) -> WireError? {
    do {
        _ = try SpanBatch.decodeProtobuf(payload)
        return nil
    } catch {
        return error
    }
}

/// A span with attributes (nested values included), events and links, all carrying `tag`.
func richSpan(_ tag: String, traceID: String, spanID: String) -> SpanRecord {
    var span = SpanRecord()
    span.resourceAttributes = [("service.name", .string("svc"))]
    span.scopeName = "scope"
    span.traceID = traceID
    span.spanID = spanID
    span.name = "span \(tag)"
    span.kind = 3
    span.startTime = 1_700_000_000_000_000_000
    span.endTime = 1_700_000_000_500_000_000
    span.attributes = [
        ("tag", .string(tag)),
        ("list.\(tag)", .array([.string("\(tag)-0"), .array([.int(1), .string("\(tag)-deep")]),
                                .keyValueList([("k", .string(tag))])])),
        ("count", .int(Int64(tag.utf8.count))),
    ]
    span.events = [
        EventRecord(time: 1_700_000_000_100_000_000, name: "event \(tag)",
                    attributes: [("event.tag", .string(tag)), ("event.list", .array([.string(tag), .bool(true)]))]),
        EventRecord(time: 1_700_000_000_200_000_000, name: "second \(tag)", attributes: [], droppedAttributes: 1),
    ]
    span.links = [
        LinkRecord(traceID: "0af7651916cd43dd8448eb211c80319c", spanID: "b7ad6b7169203331", traceState: "t=\(tag)", flags: 257,
                   attributes: [("link.tag", .string(tag)), ("link.kv", .keyValueList([("x", .string(tag))]))]),
    ]
    span.statusCode = 2
    span.statusMessage = "status \(tag)"
    return span
}

// MARK: - Tests

@Suite("Protobuf decoding")
struct ProtobufDecoderTests {
    @Test("full.pb decodes to full.expected.json, every field of every span")
    func fullFixture() throws {
        let batch = try SpanBatch.decodeProtobuf(Fixtures.bytes("full.pb"))
        let expected = try Fixtures.expectedSpans("full.expected.json")
        #expect(expected.count == 7)
        #expect(batch.count == expected.count)
        #expect(batch.rejectedSpanCount == 0)
        #expect(batch.rejectionMessage == nil)
        #expect(batch.resources.count == 2)
        #expect(batch.scopes.count == 4)
        expectSameSpans(SpanRecord.all(in: batch), expected, "full.pb")
    }

    @Test("full.pb: the tricky values, spelled out")
    func fullFixtureSpotChecks() throws {
        let batch = try SpanBatch.decodeProtobuf(Fixtures.bytes("full.pb"))
        let spans = SpanRecord.all(in: batch)
        try #require(spans.count == 7)
        let first = spans[0]
        func value(_ key: String) -> AttributeValue? { first.attributes.first { $0.key == key }?.value }
        #expect(first.name == "résumé ✓ 日本")
        #expect(first.traceID == "5b8efff798038103d269b633813fc60c")
        #expect(Hex.string(bytes: batch.traceIDs[0].bytes) == "5b8efff798038103d269b633813fc60c")
        #expect(first.flags == 769)
        #expect(value("int.min") == .int(.min))
        #expect(value("int.max") == .int(.max))
        #expect(value("str.empty") == .string(""))
        #expect(value("bytes") == .bytes([0x00, 0x01, 0xFF]))
        #expect(value("bytes.empty") == .bytes([]))
        #expect(value("double.big") == .double(1e300))
        #expect(value("double.tiny") == .double(.leastNonzeroMagnitude))
        if case let .double(negativeZero)? = value("double.negzero") {
            #expect(negativeZero == 0 && negativeZero.sign == .minus)
        } else {
            Issue.record("double.negzero is not a double")
        }
        if case let .double(nan)? = value("double.nan") { #expect(nan.isNaN) } else { Issue.record("double.nan is not a double") }
        #expect(value("empty.value") == .empty)
        #expect(value("absent.value") == .empty)
        #expect(value("") == .string("empty key"))
        #expect(first.events.count == 3)
        #expect(first.links.map(\.flags) == [769, 256])
        // The latest time PyFlare stores, exactly (later ones are refused: TimeBoundsTests).
        #expect(spans[2].endTime == 7_258_118_400_000_000_000)
        // Duplicate keys are kept in wire order.
        #expect(spans[1].attributes.filter { $0.key == "dup.key" }.map(\.value) == [.string("first"), .string("second")])
    }

    @Test("The fixture comparison notices a change in any field")
    func comparisonIsStrict() throws {
        let expected = try Fixtures.expectedSpans("full.expected.json")
        #expect(differences(expected, expected).isEmpty)
        func attribute(_ record: inout SpanRecord, _ key: String, _ value: AttributeValue) {
            guard let index = record.attributes.firstIndex(where: { $0.key == key }) else {
                Issue.record("no attribute \(key)")
                return
            }
            record.attributes[index].value = value
        }
        let mutations: [(String, (inout SpanRecord) -> Void)] = [
            ("resource index", { $0.resourceIndex += 1 }),
            ("resource attribute", { $0.resourceAttributes[4].value = .int(4243) }),
            ("resource attribute key", { $0.resourceAttributes[0].key = "service" }),
            ("resource dropped", { $0.resourceDroppedAttributes += 1 }),
            ("resource schema", { $0.resourceSchemaURL += "x" }),
            ("scope name", { $0.scopeName = "" }),
            ("scope version", { $0.scopeVersion = "1.2.4" }),
            ("scope attributes", { $0.scopeAttributes.removeLast() }),
            ("scope dropped", { $0.scopeDroppedAttributes = 0 }),
            ("scope schema", { $0.scopeSchemaURL = "" }),
            ("trace id", { $0.traceID = "5b8efff798038103d269b633813fc60d" }),
            ("span id", { $0.spanID = "eee19b7ec3c1b175" }),
            ("parent", { $0.parentSpanID = "eee19b7ec3c1b175" }),
            ("trace state", { $0.traceState = "" }),
            ("flags", { $0.flags = 257 }),
            ("name", { $0.name = "resume" }),
            ("kind", { $0.kind = 3 }),
            ("start", { $0.startTime += 1 }),
            ("end", { $0.endTime -= 1 }),
            ("attribute order", { $0.attributes.swapAt(0, 1) }),
            ("-0.0 is not 0.0", { attribute(&$0, "double.negzero", .double(0)) }),
            ("NaN is not infinity", { attribute(&$0, "double.nan", .double(.infinity)) }),
            ("int is not double", { attribute(&$0, "int.zero", .double(0)) }),
            ("empty string is not empty value", { attribute(&$0, "str.empty", .empty) }),
            ("empty bytes are not an empty string", { attribute(&$0, "bytes.empty", .string("")) }),
            ("empty array is not an empty kvlist", { attribute(&$0, "array.empty", .keyValueList([])) }),
            ("nested leaf", { attribute(&$0, "kvlist", .keyValueList([("k.str", .string("v"))])) }),
            ("dropped attributes", { $0.droppedAttributes = 0 }),
            ("event time", { $0.events[0].time += 1 }),
            ("event name", { $0.events[1].name = "exceptions" }),
            ("event attributes", { $0.events[0].attributes[1].value = .int(3) }),
            ("event dropped", { $0.events[0].droppedAttributes = 0 }),
            ("event count", { $0.events.removeLast() }),
            ("dropped events", { $0.droppedEvents = 0 }),
            ("link trace id", { $0.links[0].traceID = "4bf92f3577b34da6a3ce929d0e0e4737" }),
            ("link span id", { $0.links[0].spanID = "00f067aa0ba902b8" }),
            ("link trace state", { $0.links[0].traceState = "" }),
            ("link flags", { $0.links[1].flags = 0 }),
            ("link attributes", { $0.links[0].attributes[2].value = .array([.int(1)]) }),
            ("link dropped", { $0.links[0].droppedAttributes = 0 }),
            ("link count", { $0.links.removeLast() }),
            ("dropped links", { $0.droppedLinks = 0 }),
            ("status code", { $0.statusCode = 1 }),
            ("status message", { $0.statusMessage = "boom" }),
        ]
        for (label, mutate) in mutations {
            var copy = expected
            mutate(&copy[0])
            #expect(!differences(copy, expected).isEmpty, "a change of \(label) went unnoticed")
        }
        #expect(!differences(Array(expected.dropLast()), expected).isEmpty)
    }

    @Test("genai.pb decodes to genai.expected.json")
    func genaiFixture() throws {
        let batch = try SpanBatch.decodeProtobuf(Fixtures.bytes("genai.pb"))
        let expected = try Fixtures.expectedSpans("genai.expected.json")
        #expect(expected.count == 5)
        #expect(batch.rejectedSpanCount == 0)
        expectSameSpans(SpanRecord.all(in: batch), expected, "genai.pb")
    }

    @Test("empty.pb has no spans")
    func emptyFixture() throws {
        let payload = try Fixtures.bytes("empty.pb")
        #expect(payload.isEmpty)
        let batch = try SpanBatch.decodeProtobuf(payload)
        #expect(batch.count == 0)
        #expect(batch.isEmpty)
        #expect(batch.resources.count == 0)
        #expect(batch.rejectedSpanCount == 0)
    }

    @Test("A ResourceSpans without scopes and a ScopeSpans without spans give no spans")
    func emptyContainers() throws {
        var writer = ProtoWriter()
        writer.messageField(1) { resourceSpans in
            resourceSpans.messageField(1) { resource in
                resource.messageField(1) { $0.stringField(1, "service.name"); $0.messageField(2) { $0.stringField(1, "x") } }
            }
            resourceSpans.messageField(2) { $0.messageField(1) { $0.stringField(1, "empty scope") } }
        }
        writer.messageField(1) { _ in }
        let batch = try SpanBatch.decodeProtobuf(writer.bytes)
        #expect(batch.count == 0)
        #expect(batch.resources.count == 2)
        #expect(batch.scopes.count == 1)
        #expect(batch.string(batch.scopes.names[0]) == "empty scope")
    }

    @Test("The test encoder reproduces the fixtures (so the variants below test the decoder)",
          arguments: ["full.expected.json", "genai.expected.json"])
    func encoderRoundTrip(fixture: String) throws {
        let expected = try Fixtures.expectedSpans(fixture)
        var encoder = ProtoRequestEncoder()
        let batch = try SpanBatch.decodeProtobuf(encoder.request(expected))
        expectSameSpans(SpanRecord.all(in: batch), expected, fixture)
    }

    @Test("The genuine fixture and the test encoder agree byte for byte on genai.pb")
    func encoderMatchesPythonBytes() throws {
        // The Python encoder writes fields in number order and omits defaults, like ours.
        var encoder = ProtoRequestEncoder()
        let ours = encoder.request(try Fixtures.expectedSpans("genai.expected.json"))
        let theirs = try Fixtures.bytes("genai.pb")
        #expect(ours == theirs)
    }

    static let layouts: [(String, EncodeOptions)] = [
        ("unknown fields", EncodeOptions(unknownFields: true)),
        ("known numbers with wrong wire types", EncodeOptions(wrongWireTypes: true)),
        ("reversed field order", EncodeOptions(order: .reversed)),
        ("shuffled field order", EncodeOptions(order: .shuffled(seed: 0x5EED))),
        ("shuffled again", EncodeOptions(order: .shuffled(seed: 42))),
        ("everything at once", EncodeOptions(unknownFields: true, wrongWireTypes: true, order: .reversed)),
    ]

    @Test("Unknown fields, wrong wire types and field order do not change the decode",
          arguments: ["full.expected.json", "genai.expected.json"], 0..<layouts.count)
    func layoutIndependence(fixture: String, layout: Int) throws {
        let (label, options) = Self.layouts[layout]
        let expected = try Fixtures.expectedSpans(fixture)
        var plainEncoder = ProtoRequestEncoder()
        let plain = plainEncoder.request(expected)
        var encoder = ProtoRequestEncoder(options)
        let payload = encoder.request(expected)
        #expect(payload != plain, "the \(label) layout must differ from the plain one")
        let batch = try SpanBatch.decodeProtobuf(payload)
        #expect(batch.rejectedSpanCount == 0)
        expectSameSpans(SpanRecord.all(in: batch), expected, "\(fixture), \(label)")
    }

    @Test("Unknown fields of each wire type are skipped at every message level")
    func unknownFieldsEveryLevel() throws {
        // One span touching every message type: request, ResourceSpans, Resource, ScopeSpans,
        // InstrumentationScope, Span, Event, Link, Status, KeyValue, AnyValue, ArrayValue, KeyValueList.
        let span = richSpan("u", traceID: "5b8efff798038103d269b633813fc60c", spanID: "eee19b7ec3c1b174")
        var withScope = span
        withScope.scopeVersion = "1.0"
        withScope.scopeAttributes = [("scope.kv", .keyValueList([("a", .array([.int(-1), .double(-0.0), .bytes([0])]))]))]
        withScope.scopeDroppedAttributes = 3
        withScope.resourceDroppedAttributes = 4
        withScope.resourceSchemaURL = "https://r"
        withScope.scopeSchemaURL = "https://s"
        withScope.flags = 0x301
        withScope.parentSpanID = "1111111111111111"
        withScope.traceState = "a=b"
        withScope.droppedAttributes = 1
        withScope.droppedEvents = 2
        withScope.droppedLinks = 3
        var plainEncoder = ProtoRequestEncoder()
        let plain = try SpanBatch.decodeProtobuf(plainEncoder.request([withScope]))
        expectSameSpans(SpanRecord.all(in: plain), [withScope], "plain")

        var encoder = ProtoRequestEncoder(EncodeOptions(unknownFields: true))
        let payload = encoder.request([withScope])
        let batch = try SpanBatch.decodeProtobuf(payload)
        expectSameSpans(SpanRecord.all(in: batch), [withScope], "unknown fields")
        // Nothing leaked from the unknown fields into the tables.
        #expect(batch.attributes.count == plain.attributes.count)
        #expect(batch.eventAttributes.count == plain.eventAttributes.count)
        #expect(batch.linkAttributes.count == plain.linkAttributes.count)
        #expect(batch.nestedValues.count == plain.nestedValues.count)
        #expect(batch.events.count == plain.events.count)
        #expect(batch.links.count == plain.links.count)
    }

    @Test("A span whose fields are written in reverse order decodes the same")
    func reversedSpan() throws {
        let span = richSpan("r", traceID: "4bf92f3577b34da6a3ce929d0e0e4736", spanID: "00f067aa0ba902b7")
        var reversedSpan = span
        reversedSpan.flags = 1
        reversedSpan.parentSpanID = "53995c3f42cd8ad8"
        reversedSpan.traceState = "x=y"
        reversedSpan.droppedAttributes = 5
        reversedSpan.droppedEvents = 6
        reversedSpan.droppedLinks = 7
        var encoder = ProtoRequestEncoder(EncodeOptions(order: .reversed))
        let spanBytes = encoder.span(reversedSpan)
        // Field 16 (flags, fixed32 → tag 0x85 0x01) comes first, trace_id (tag 0x0A) last.
        #expect(Array(spanBytes.prefix(2)) == [0x85, 0x01])
        #expect(spanBytes[spanBytes.count - 18] == 0x0A)
        let batch = try SpanBatch.decodeProtobuf(encoder.request([reversedSpan]))
        expectSameSpans(SpanRecord.all(in: batch), [reversedSpan])
    }

    @Test("Attributes, events and links interleaved on the wire keep their own rows contiguous")
    func interleavedRepeatedFields() throws {
        var spans: [SpanRecord] = []
        for number in 0..<6 {
            spans.append(richSpan("i\(number)", traceID: "4bf92f3577b34da6a3ce929d0e0e473\(number)", spanID: "00f067aa0ba902b\(number)"))
        }
        for seed in UInt64(1)...20 {
            var encoder = ProtoRequestEncoder(EncodeOptions(order: .shuffled(seed: seed)))
            let batch = try SpanBatch.decodeProtobuf(encoder.request(spans))
            expectSameSpans(SpanRecord.all(in: batch), spans, "seed \(seed)")
        }
    }

    // MARK: Ids

    @Test("Ids of the wrong length throw .invalidID", arguments: [
        ("trace_id of 15 bytes", "5b8efff798038103d269b633813fc6", "eee19b7ec3c1b174", "", ""),
        ("trace_id of 17 bytes", "5b8efff798038103d269b633813fc60c0d", "eee19b7ec3c1b174", "", ""),
        ("span_id of 7 bytes", "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b1", "", ""),
        ("span_id of 9 bytes", "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b17401", "", ""),
        ("parent_span_id of 7 bytes", "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "eee19b7ec3c1b1", ""),
        ("link trace_id of 15 bytes", "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "", "link-trace"),
        ("link span_id of 7 bytes", "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "", "link-span"),
    ])
    func invalidIDLength(label: String, traceID: String, spanID: String, parent: String, link: String) throws {
        var span = richSpan("bad", traceID: traceID, spanID: spanID)
        span.parentSpanID = parent
        if link == "link-trace" { span.links[0].traceID = "0af7651916cd43dd8448eb211c8031" }
        if link == "link-span" { span.links[0].spanID = "b7ad6b71692033" }
        let good = richSpan("good", traceID: "0af7651916cd43dd8448eb211c80319c", spanID: "1111111111111111")
        var encoder = ProtoRequestEncoder()
        let payload = encoder.request([good, span, good])
        let error = #expect(throws: WireError.self, "\(label)") { try SpanBatch.decodeProtobuf(payload) }
        #expect(error?.code == .invalidID, "\(label)")
        if let error {
            #expect((0..<payload.count).contains(error.offset))
            #expect(!error.message.isEmpty)
        }
    }

    @Test("Empty, absent or all-zero ids reject only their span; the rest line up", arguments: [
        ("trace_id absent", "", "eee19b7ec3c1b174", "trace_id"),
        ("trace_id empty", "<empty>", "eee19b7ec3c1b174", "trace_id"),
        ("trace_id all zero", "00000000000000000000000000000000", "eee19b7ec3c1b174", "trace_id"),
        ("span_id absent", "5b8efff798038103d269b633813fc60c", "", "span_id"),
        ("span_id empty", "5b8efff798038103d269b633813fc60c", "<empty>", "span_id"),
        ("span_id all zero", "5b8efff798038103d269b633813fc60c", "0000000000000000", "span_id"),
    ])
    func rejectedSpans(label: String, traceID: String, spanID: String, field: String) throws {
        let a = richSpan("alpha", traceID: "5b8efff798038103d269b633813fc60c", spanID: "aaaaaaaaaaaaaaaa")
        let bad1 = richSpan("bad-one", traceID: traceID, spanID: spanID)
        let c = richSpan("charlie", traceID: "5b8efff798038103d269b633813fc60c", spanID: "cccccccccccccccc")
        let bad2 = richSpan("bad-two", traceID: "4bf92f3577b34da6a3ce929d0e0e4736", spanID: "0000000000000000")
        var e = richSpan("echo", traceID: "4bf92f3577b34da6a3ce929d0e0e4736", spanID: "eeeeeeeeeeeeeeee")
        e.attributes.append(("after.rejects", .keyValueList([("ok", .bool(true))])))
        var encoder = ProtoRequestEncoder()
        let batch = try SpanBatch.decodeProtobuf(encoder.request([a, bad1, c, bad2, e]))
        #expect(batch.count == 3, "\(label)")
        #expect(batch.rejectedSpanCount == 2, "\(label)")
        let message = try #require(batch.rejectionMessage)
        #expect(message.contains(field), "\(label): \(message)")
        // The spans after a rejected one read back correctly: attributes, nested values, events, links.
        expectSameSpans(SpanRecord.all(in: batch), [a, c, e], label)
        // The rejected spans' rows were rolled back: the tables hold exactly what the kept spans need.
        var cleanEncoder = ProtoRequestEncoder()
        let clean = try SpanBatch.decodeProtobuf(cleanEncoder.request([a, c, e]))
        #expect(batch.attributes.count == clean.attributes.count)
        #expect(batch.eventAttributes.count == clean.eventAttributes.count)
        #expect(batch.linkAttributes.count == clean.linkAttributes.count)
        #expect(batch.nestedValues.count == clean.nestedValues.count)
        #expect(batch.events.count == clean.events.count)
        #expect(batch.links.count == clean.links.count)
        #expect(batch.spanAttributes == clean.spanAttributes)
        #expect(batch.spanEvents == clean.spanEvents)
        #expect(batch.spanLinks == clean.spanLinks)
    }

    @Test("Every span rejected: an empty batch, not an error")
    func allRejected() throws {
        var encoder = ProtoRequestEncoder()
        let payload = encoder.request([richSpan("x", traceID: "", spanID: "1111111111111111"),
                                       richSpan("y", traceID: "5b8efff798038103d269b633813fc60c", spanID: "")])
        let batch = try SpanBatch.decodeProtobuf(payload)
        #expect(batch.count == 0)
        #expect(batch.rejectedSpanCount == 2)
        #expect(batch.rejectionMessage?.contains("trace_id") == true)
        #expect(batch.attributes.count == 1)  // the resource's service.name only
        #expect(batch.nestedValues.count == 0)
        #expect(batch.events.count == 0)
        #expect(batch.links.count == 0)
    }

    @Test("Ids keep their byte order")
    func idByteOrder() throws {
        var builder = OTLPPayloadBuilder()
        var span = OTLPPayloadBuilder.Span(traceID: TraceID(high: 0x0102_0304_0506_0708, low: 0x090A_0B0C_0D0E_0F10),
                                           spanID: 0x1112_1314_1516_1718)
        span.parentSpanID = 0x2122_2324_2526_2728
        builder.add(span)
        let batch = try SpanBatch.decodeProtobuf(builder.payload())
        try #require(batch.count == 1)
        #expect(batch.traceIDs[0] == TraceID(high: 0x0102_0304_0506_0708, low: 0x090A_0B0C_0D0E_0F10))
        #expect(batch.traceIDs[0].bytes == Array(1...16))
        #expect(Hex.string(batch.traceIDs[0]) == "0102030405060708090a0b0c0d0e0f10")
        #expect(batch.spanIDs[0] == 0x1112_1314_1516_1718)
        #expect(batch.parentSpanIDs[0] == 0x2122_2324_2526_2728)
    }

    // MARK: Malformed input

    @Test("Groups and invalid wire types are refused")
    func invalidWireTypes() {
        for wireType: UInt8 in [3, 4, 6, 7] {
            var writer = ProtoWriter()
            writer.tag(1, wireType)
            writer.varint(0)
            #expect(protobufError(writer.bytes)?.code == .invalidWireType, "wire type \(wireType)")
        }
        // Field number 0 is illegal.
        #expect(protobufError([0x02, 0x00])?.code == .invalidWireType)
    }

    @Test("Varints longer than 10 bytes are malformed")
    func longVarint() {
        let payload: [UInt8] = [0x08] + Array(repeating: 0xFF, count: 10) + [0x01]
        #expect(protobufError(payload)?.code == .malformedVarint)
    }

    @Test("Lengths and fixed-width values running past their message are truncated")
    func truncatedValues() {
        #expect(protobufError([0x0A, 0x05, 0x00])?.code == .truncated)
        #expect(protobufError([0x09, 0x00, 0x00])?.code == .truncated)  // field 1 as fixed64, skipped: 2 of 8 bytes
        #expect(protobufError([0x0D, 0x00])?.code == .truncated)
        #expect(protobufError([0x08, 0x80])?.code == .truncated)
        // A nested message whose declared length exceeds its parent's.
        var inner = ProtoWriter()
        inner.tag(2, 2)
        inner.varint(100)
        var outer = ProtoWriter()
        outer.bytesField(1, inner.bytes + [0, 0, 0])
        var tail = ProtoWriter()
        tail.bytesField(99, Array(repeating: 0, count: 200))
        #expect(protobufError(outer.bytes + tail.bytes)?.code == .truncated)
    }
}
