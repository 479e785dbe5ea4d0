import Foundation
import PyFlareModel
import PyFlareTesting
import PyFlareWire
import Testing
@testable import PyFlareStore

// Shared by the store's format, WAL, index, schema and recovery tests: an OTLP payload
// model that covers every field the store keeps (several resources and scopes, events,
// links, dropped counts, trace state, flags), and a canonical text form of a stored span
// that compares every field bit for bit.

typealias KeyValues = [(String, AttributeValue)]

struct PEvent {
    var time: UInt64
    var name: String
    var attributes: KeyValues = []
    var dropped: UInt32 = 0
}

struct PLink {
    var traceID: TraceID
    var spanID: UInt64
    var traceState = ""
    var attributes: KeyValues = []
    var dropped: UInt32 = 0
    var flags: UInt32 = 0
}

struct PSpan {
    var traceID: TraceID
    var spanID: UInt64
    var parentSpanID: UInt64 = 0
    var traceState = ""
    var flags: UInt32 = 0
    var name = "span"
    var kind: UInt8 = 1
    var start: UInt64 = baseTime
    var end: UInt64 = baseTime + 1_000_000
    var attributes: KeyValues = []
    var droppedAttributes: UInt32 = 0
    var events: [PEvent] = []
    var droppedEvents: UInt32 = 0
    var links: [PLink] = []
    var droppedLinks: UInt32 = 0
    var statusCode: UInt8 = 0
    var statusMessage = ""
}

struct PScope {
    var name = ""
    var version = ""
    var attributes: KeyValues = []
    var dropped: UInt32 = 0
    var schemaURL = ""
    var spans: [PSpan] = []
}

struct PResource {
    var attributes: KeyValues = []
    var dropped: UInt32 = 0
    var schemaURL = ""
    var scopes: [PScope] = []
}

/// Writes `ExportTraceServiceRequest` protobuf with every field of opentelemetry-proto's trace model.
enum PayloadWriter {
    static func payload(_ resources: [PResource]) -> [UInt8] {
        var writer = ProtoWriter()
        for resource in resources {
            writer.messageField(1) { resourceSpans in
                resourceSpans.messageField(1) { message in
                    for (key, value) in resource.attributes { keyValue(key, value, field: 1, into: &message) }
                    if resource.dropped != 0 { message.varintField(2, UInt64(resource.dropped)) }
                }
                for scope in resource.scopes {
                    resourceSpans.messageField(2) { scopeSpans in
                        scopeSpans.messageField(1) { message in
                            if !scope.name.isEmpty { message.stringField(1, scope.name) }
                            if !scope.version.isEmpty { message.stringField(2, scope.version) }
                            for (key, value) in scope.attributes { keyValue(key, value, field: 3, into: &message) }
                            if scope.dropped != 0 { message.varintField(4, UInt64(scope.dropped)) }
                        }
                        for span in scope.spans { scopeSpans.messageField(2) { encode(span, into: &$0) } }
                        if !scope.schemaURL.isEmpty { scopeSpans.stringField(3, scope.schemaURL) }
                    }
                }
                if !resource.schemaURL.isEmpty { resourceSpans.stringField(3, resource.schemaURL) }
            }
        }
        return writer.bytes
    }

    static func encode(_ span: PSpan, into message: inout ProtoWriter) {
        message.bytesField(1, span.traceID.bytes)
        message.bytesField(2, bigEndian(span.spanID))
        if !span.traceState.isEmpty { message.stringField(3, span.traceState) }
        if span.parentSpanID != 0 { message.bytesField(4, bigEndian(span.parentSpanID)) }
        message.stringField(5, span.name)
        message.varintField(6, UInt64(span.kind))
        message.fixed64Field(7, span.start)
        message.fixed64Field(8, span.end)
        for (key, value) in span.attributes { keyValue(key, value, field: 9, into: &message) }
        if span.droppedAttributes != 0 { message.varintField(10, UInt64(span.droppedAttributes)) }
        for event in span.events {
            message.messageField(11) { event_ in
                event_.fixed64Field(1, event.time)
                event_.stringField(2, event.name)
                for (key, value) in event.attributes { keyValue(key, value, field: 3, into: &event_) }
                if event.dropped != 0 { event_.varintField(4, UInt64(event.dropped)) }
            }
        }
        if span.droppedEvents != 0 { message.varintField(12, UInt64(span.droppedEvents)) }
        for link in span.links {
            message.messageField(13) { link_ in
                link_.bytesField(1, link.traceID.bytes)
                link_.bytesField(2, bigEndian(link.spanID))
                if !link.traceState.isEmpty { link_.stringField(3, link.traceState) }
                for (key, value) in link.attributes { keyValue(key, value, field: 4, into: &link_) }
                if link.dropped != 0 { link_.varintField(5, UInt64(link.dropped)) }
                if link.flags != 0 { link_.fixed32Field(6, link.flags) }
            }
        }
        if span.droppedLinks != 0 { message.varintField(14, UInt64(span.droppedLinks)) }
        if span.statusCode != 0 || !span.statusMessage.isEmpty {
            message.messageField(15) { status in
                if !span.statusMessage.isEmpty { status.stringField(2, span.statusMessage) }
                status.varintField(3, UInt64(span.statusCode))
            }
        }
        if span.flags != 0 { message.fixed32Field(16, span.flags) }
    }

    static func bigEndian(_ value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * UInt64($0))) }
    }

    static func keyValue(_ key: String, _ value: AttributeValue, field: UInt32, into message: inout ProtoWriter) {
        message.messageField(field) { keyValue in
            keyValue.stringField(1, key)
            keyValue.messageField(2) { anyValue(&$0, value) }
        }
    }

    static func anyValue(_ writer: inout ProtoWriter, _ value: AttributeValue) {
        switch value {
        case .empty: break
        case .string(let text): writer.stringField(1, text)
        case .bool(let flag): writer.varintField(2, flag ? 1 : 0)
        case .int(let number): writer.varintField(3, UInt64(bitPattern: number))
        case .double(let number): writer.fixed64Field(4, number.bitPattern)
        case .array(let elements):
            writer.messageField(5) { array in
                for element in elements { array.messageField(1) { anyValue(&$0, element) } }
            }
        case .keyValueList(let pairs):
            writer.messageField(6) { list in
                for (key, element) in pairs { keyValue(key, element, field: 1, into: &list) }
            }
        case .bytes(let bytes): writer.bytesField(7, bytes)
        }
    }
}

/// Decodes and normalizes `resources` as the receivers would.
func normalized(_ resources: [PResource], pricing: PricingTable = .builtIn()) throws -> NormalizedBatch {
    let spans = try SpanBatch.decodeProtobuf(PayloadWriter.payload(resources))
    #expect(spans.rejectedSpanCount == 0)
    return SpanNormalizer(pricing: pricing).normalize(spans)
}

// MARK: - Canonical form of a span

/// An attribute value as text; doubles by bit pattern, so -0.0 and NaN payloads count.
func render(_ value: AttributeValue) -> String {
    switch value {
    case .empty: "empty"
    case .string(let text): "s" + text.debugDescription
    case .bool(let flag): "b\(flag)"
    case .int(let number): "i\(number)"
    case .double(let number): "d0x" + String(number.bitPattern, radix: 16)
    case .bytes(let bytes): "x'" + Hex.string(bytes: bytes) + "'"
    case .array(let elements): "[" + elements.map(render).joined(separator: ", ") + "]"
    case .keyValueList(let pairs): "{" + pairs.map { $0.0.debugDescription + ": " + render($0.1) }.joined(separator: ", ") + "}"
    }
}

/// Key/value pairs as `SpanBatch.keyValues(in:_:)` gives them, or as a payload is built from.
func render(pairs: [(key: String, value: AttributeValue)]) -> String {
    "{" + pairs.map { $0.key.debugDescription + ": " + render($0.value) }.joined(separator: ", ") + "}"
}

/// Every field of span `row` of `batch`, one per line: what a round trip must keep.
func canonical(_ batch: NormalizedBatch, _ row: Int, pricing: PricingTable = .builtIn()) -> String {
    let spans = batch.spans, columns = batch.columns
    func text(_ ref: StringRef) -> String { spans.string(ref).debugDescription }
    func optional(_ ref: StringRef) -> String { ref.isEmpty ? "nil" : text(ref) }
    func number(_ value: Int64?) -> String { value.map { "\($0)" } ?? "nil" }
    var lines: [String] = [
        "trace_id=\(Hex.string(spans.traceIDs[row]))",
        "span_id=\(Hex.string(spans.spanIDs[row]))",
        "parent=\(Hex.string(spans.parentSpanIDs[row]))",
        "trace_state=\(text(spans.traceStates[row]))",
        "flags=\(spans.flags[row])",
        "name=\(text(spans.names[row]))",
        "kind=\(spans.kinds[row])",
        "start=\(spans.startTimes[row])",
        "end=\(spans.endTimes[row])",
        "attributes=\(render(pairs: spans.keyValues(in: spans.attributes, spans.spanAttributes[row])))",
        "dropped_attributes=\(spans.droppedAttributeCounts[row])",
        "dropped_events=\(spans.droppedEventCounts[row])",
        "dropped_links=\(spans.droppedLinkCounts[row])",
        "status=\(spans.statusCodes[row]) \(text(spans.statusMessages[row]))",
    ]
    for event in spans.spanEvents[row].indices {
        lines.append("event time=\(spans.events.times[event]) name=\(text(spans.events.names[event]))"
                     + " dropped=\(spans.events.droppedAttributeCounts[event])"
                     + " attributes=\(render(pairs: spans.keyValues(in: spans.eventAttributes, spans.events.attributes[event])))")
    }
    for link in spans.spanLinks[row].indices {
        lines.append("link trace=\(Hex.string(spans.links.traceIDs[link])) span=\(Hex.string(spans.links.spanIDs[link]))"
                     + " state=\(text(spans.links.traceStates[link])) flags=\(spans.links.flags[link])"
                     + " dropped=\(spans.links.droppedAttributeCounts[link])"
                     + " attributes=\(render(pairs: spans.keyValues(in: spans.linkAttributes, spans.links.attributes[link])))")
    }
    let scope = Int(spans.scopeIndices[row])
    let resource = Int(spans.scopes.resourceIndices[scope])
    lines.append("resource attributes=\(render(pairs: spans.keyValues(in: spans.attributes, spans.resources.attributes[resource])))"
                 + " dropped=\(spans.resources.droppedAttributeCounts[resource]) schema=\(text(spans.resources.schemaURLs[resource]))")
    lines.append("scope name=\(text(spans.scopes.names[scope])) version=\(text(spans.scopes.versions[scope]))"
                 + " attributes=\(render(pairs: spans.keyValues(in: spans.attributes, spans.scopes.attributes[scope])))"
                 + " dropped=\(spans.scopes.droppedAttributeCounts[scope]) schema=\(text(spans.scopes.schemaURLs[scope]))")
    lines += [
        "service=\(optional(columns.service[row]))",
        "model=\(optional(columns.model[row]))",
        "response_model=\(optional(columns.responseModel[row]))",
        "provider=\(optional(columns.provider[row]))",
        "operation=\(optional(columns.operation[row]))",
        "ai_kind=\(columns.kind[row])",
        "input_tokens=\(number(columns.inputTokens[row]))",
        "output_tokens=\(number(columns.outputTokens[row]))",
        "cache_read_tokens=\(number(columns.cacheReadTokens[row]))",
        "cache_write_tokens=\(number(columns.cacheWriteTokens[row]))",
        "reasoning_tokens=\(number(columns.reasoningTokens[row]))",
        "total_tokens=\(number(columns.totalTokens[row]))",
        "cost_micros=\(number(columns.costMicros[row]))",
        "cost_source=\(columns.costSource[row])",
        "price_model=\(columns.priceModel(row) ?? "nil")",
        "user=\(optional(columns.user[row]))",
        "session=\(optional(columns.session[row]))",
        "feature=\(optional(columns.feature[row]))",
        "environment=\(optional(columns.environment[row]))",
    ]
    return lines.joined(separator: "\n")
}

/// The JSON-lines form of span `row`, a second, independent account of every field.
func jsonLine(_ batch: NormalizedBatch, _ row: Int, pricing: PricingTable = .builtIn()) -> String {
    var json = JSONWriter()
    SpanJSONLinesEncoder(pricing: pricing).encode(batch, span: row, into: &json)
    return String(decoding: json.bytes, as: UTF8.self)
}

/// Every span of `batches` by span id, in canonical form.
func canonicalBySpanID(_ batches: [NormalizedBatch], pricing: PricingTable = .builtIn()) -> [UInt64: String] {
    var spans: [UInt64: String] = [:]
    for batch in batches {
        for row in 0..<batch.count {
            let previous = spans.updateValue(canonical(batch, row, pricing: pricing), forKey: batch.spans.spanIDs[row])
            #expect(previous == nil, "span \(Hex.string(batch.spans.spanIDs[row])) appears twice")
        }
    }
    return spans
}

func jsonBySpanID(_ batches: [NormalizedBatch], pricing: PricingTable = .builtIn()) -> [UInt64: String] {
    var spans: [UInt64: String] = [:]
    for batch in batches {
        for row in 0..<batch.count { spans[batch.spans.spanIDs[row]] = jsonLine(batch, row, pricing: pricing) }
    }
    return spans
}

/// Expects `actual` to hold exactly the spans of `expected`, field for field.
func expectSameSpans(_ actual: [NormalizedBatch], _ expected: [NormalizedBatch], pricing: PricingTable = .builtIn(),
                     sourceLocation: SourceLocation = #_sourceLocation) {
    let want = canonicalBySpanID(expected, pricing: pricing), got = canonicalBySpanID(actual, pricing: pricing)
    #expect(got.count == want.count, "span count", sourceLocation: sourceLocation)
    #expect(Set(got.keys) == Set(want.keys), "span ids", sourceLocation: sourceLocation)
    for (id, text) in want {
        #expect(got[id] == text, "span \(Hex.string(id))", sourceLocation: sourceLocation)
    }
    let wantJSON = jsonBySpanID(expected, pricing: pricing), gotJSON = jsonBySpanID(actual, pricing: pricing)
    for (id, line) in wantJSON {
        #expect(gotJSON[id] == line, "JSON line of span \(Hex.string(id))", sourceLocation: sourceLocation)
    }
}

// MARK: - Fixtures

extension TraceID {
    static func test(_ n: UInt64) -> TraceID { TraceID(high: 0x7E57_0000_0000_0000 | n, low: 0x0123_4567_89AB_CDEF &* n) }
}

let longText = String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 8) // 360 bytes
let mediumText = String(repeating: "y", count: 256) // exactly the large-text threshold

/// Span attributes with every AnyValue kind and the edge values of each.
let everyValueKind: KeyValues = [
    ("str", .string("hello")),
    ("empty.str", .string("")),
    ("bool.t", .bool(true)),
    ("bool.f", .bool(false)),
    ("int.zero", .int(0)),
    ("int.neg", .int(-1)),
    ("int.min", .int(.min)),
    ("int.max", .int(.max)),
    ("dbl", .double(1.5)),
    ("dbl.zero", .double(0.0)),
    ("dbl.negzero", .double(-0.0)),
    ("dbl.nan", .double(.nan)),
    ("dbl.nan.payload", .double(Double(bitPattern: 0xFFF8_0000_DEAD_BEEF))),
    ("dbl.inf", .double(.infinity)),
    ("dbl.ninf", .double(-.infinity)),
    ("dbl.tiny", .double(.leastNonzeroMagnitude)),
    ("dbl.max", .double(.greatestFiniteMagnitude)),
    ("bytes", .bytes([0, 1, 0x7F, 0x80, 0xFF])),
    ("bytes.empty", .bytes([])),
    ("nothing", .empty),
    ("arr.str", .array([.string("a"), .string(""), .string("c")])),
    ("arr.bool", .array([.bool(true), .bool(false)])),
    ("arr.int", .array([.int(.min), .int(-1), .int(0), .int(.max)])),
    ("arr.dbl", .array([.double(-0.0), .double(.nan), .double(.infinity), .double(-.infinity), .double(3.25)])),
    ("arr.bytes", .array([.bytes([]), .bytes([1, 2, 3])])),
    ("arr.empty.values", .array([.empty, .empty])),
    ("arr.empty", .array([])),
    ("arr.mixed", .array([.empty, .string("x"), .array([.int(1), .array([])]), .keyValueList([("k", .bool(true))])])),
    ("arr.long", .array([.string(longText)])),
    ("kv", .keyValueList([
        ("inner", .keyValueList([("deep", .array([.double(2.5), .keyValueList([("deepest", .bytes([9]))])]))])),
        ("dup", .int(1)), ("dup", .int(2)), ("", .string("empty key")), ("none", .empty),
    ])),
    ("kv.empty", .keyValueList([])),
    ("dup.key", .string("first")),
    ("dup.key", .string("second")),
    ("", .string("value under an empty key")),
    ("unicode", .string("héllo \u{1F600} \n\t\"quoted\" \\ \u{0}")),
]

/// Span attributes where large text (by key and by length) sits between ordinary ones.
let largeTextAttributes: KeyValues = [
    ("gen_ai.request.model", .string("gpt-4o")),
    ("gen_ai.input.messages", .string("[{\"role\":\"user\",\"content\":\"hi\"}]")),
    ("ordinary.1", .int(1)),
    ("gen_ai.output.messages", .string("[{\"role\":\"assistant\",\"content\":\"hello\"}]")),
    ("input.value", .string("plain input")),
    ("input.value.suffix", .string("short-inline-value")),
    ("notes", .string(longText)),
    ("exactly.256", .string(mediumText)),
    ("just.under", .string(String(repeating: "z", count: 255))),
    ("gen_ai.prompt.0.content", .string("flattened prompt")),
    ("gen_ai.prompt", .string("p")),
    ("gen_ai.prompt.", .string("prefix only: not large")),
    ("llm.input_messages", .string("m")),
    ("llm.output_messages.0.message.content", .string("flattened-output-zq")),
    ("output.value", .string("")),
    ("input.value", .int(42)),
    ("ordinary.2", .bool(true)),
    ("output.value", .string(longText + "!")),
    ("gen_ai.usage.input_tokens", .int(1000)),
    ("gen_ai.usage.output_tokens", .int(500)),
]

let t1 = TraceID.test(1), t2 = TraceID.test(2), t3 = TraceID.test(3), t4 = TraceID.test(4), t5 = TraceID.test(5)

/// The first batch: three resources, four scopes, eight spans.
func richResourcesA() -> [PResource] {
    let a1 = PSpan(
        traceID: t1, spanID: 0xA1, traceState: "vendor=abc", flags: 0x301, name: "root", kind: 2,
        start: baseTime, end: baseTime + 5_000_000_000, attributes: everyValueKind, droppedAttributes: 3,
        events: [
            PEvent(time: baseTime + 10, name: "ev1", attributes: [("e.int", .int(-7)), ("e.kv", .keyValueList([("a", .array([.string("b")]))]))], dropped: 1),
            PEvent(time: baseTime - 5, name: ""),
            PEvent(time: 0, name: "at zero", attributes: [("e.long", .string(longText)), ("input.value", .string("event text stays inline"))]),
        ],
        droppedEvents: 2,
        links: [
            PLink(traceID: TraceID.test(9), spanID: 0x99, traceState: "k=v,k2=v2",
                  attributes: [("l.str", .string("x")), ("l.arr", .array([.int(1)])), ("l.nan", .double(.nan))], dropped: 4, flags: 0x101),
            PLink(traceID: t1, spanID: 0xA2),
        ],
        droppedLinks: 5, statusCode: 1)
    var a2 = PSpan(traceID: t1, spanID: 0xA2, parentSpanID: 0xA1, name: "llm call", kind: 3,
                   start: baseTime + 1_000, end: baseTime + 2_000_000_000, statusCode: 2, statusMessage: "boom")
    a2.attributes = largeTextAttributes + [
        ("gen_ai.response.model", .string("gpt-4o-2024-08-06")), ("gen_ai.system", .string("openai")),
        ("gen_ai.operation.name", .string("chat")), ("gen_ai.usage.cache_read.input_tokens", .int(100)),
        ("gen_ai.usage.reasoning.output_tokens", .int(50)), ("user.id", .string("u1")), ("session.id", .string("s1")),
        ("app.feature", .string("search")),
    ]
    let a3 = PSpan(traceID: t1, spanID: 0xA3, parentSpanID: 0xDEAD, name: "end before start", kind: 0,
                   start: baseTime + 3_000, end: baseTime + 2_000,
                   attributes: [("gen_ai.request.model", .string("my-unknown-model")), ("gen_ai.usage.input_tokens", .int(10)),
                                ("openinference.span.kind", .string("RETRIEVER"))])
    let a4 = PSpan(traceID: t2, spanID: 0xA4, name: "tiny times", kind: 5, start: 5, end: 10,
                   attributes: [("pyflare.cost.micros", .int(1234)), ("enduser.id", .string("u2"))])
    let b1 = PSpan(traceID: t1, spanID: 0xB1, parentSpanID: 0xA2, name: "tool", kind: 1,
                   start: baseTime + 4_000, end: baseTime + 9_000,
                   attributes: [("gen_ai.tool.call.arguments", .string("{}")), ("openinference.span.kind", .string("TOOL")),
                                ("session.id", .string("s1"))])
    let b2 = PSpan(traceID: t3, spanID: 0xB2, name: "far future", kind: 4,
                   start: 2_000_000_000_000_000_000, end: 2_000_000_000_000_000_001,
                   attributes: [("gen_ai.usage.total_tokens", .int(77)), ("deployment.environment", .string("staging")),
                                ("gen_ai.request.model", .string("claude-3-5-sonnet")), ("gen_ai.usage.output_tokens", .int(0))])
    let c1 = PSpan(traceID: t4, spanID: 0xC1, name: "", kind: 0, start: 0, end: 0)
    let c2 = PSpan(traceID: t4, spanID: 0xC2, parentSpanID: 0xC1, name: "child", kind: 1, start: 1, end: UnixTime.latestUnsigned)
    return [
        PResource(attributes: [("service.name", .string("svc-a")), ("deployment.environment", .string("prod")), ("res.int", .int(-5))],
                  dropped: 2, schemaURL: "https://opentelemetry.io/schemas/1.21.0", scopes: [
                      PScope(name: "scope.one", version: "1.2.3",
                             attributes: [("scope.attr", .string("x")), ("scope.nested", .keyValueList([("a", .int(1)), ("b", .array([.bool(true)]))]))],
                             dropped: 1, schemaURL: "https://scope/1", spans: [a1, a2, a3]),
                      PScope(name: "scope.two", spans: [a4]),
                  ]),
        PResource(attributes: [("service.name", .string("svc-b"))], scopes: [
            PScope(name: "", version: "9", spans: [b1, b2]),
        ]),
        PResource(attributes: [], scopes: [
            PScope(name: "bare", spans: [c1, c2]),
        ]),
    ]
}

/// The second batch: a resource equal to one of the first batch's, and another.
func richResourcesB() -> [PResource] {
    let d1 = PSpan(traceID: t2, spanID: 0xD1, parentSpanID: 0xA4, name: "child of another batch", start: 6, end: 9)
    let d2 = PSpan(traceID: t5, spanID: 0xD2, name: "openinference", kind: 3, start: baseTime + 50, end: baseTime + 60,
                   attributes: [("llm.model_name", .string("gpt-4o-mini")), ("llm.token_count.prompt", .int(300)),
                                ("llm.token_count.completion", .double(20)), ("llm.cost.total", .double(0.25)),
                                ("openinference.span.kind", .string("LLM")), ("session.id", .string("s5"))])
    let d3 = PSpan(traceID: t5, spanID: 0xD3, parentSpanID: 0xD2, name: "tokens without price",
                   start: baseTime + 55, end: baseTime + 58,
                   attributes: [("gen_ai.request.model", .string("claude-3-5-sonnet")), ("gen_ai.usage.input_tokens", .string(" 12 ")),
                                ("gen_ai.usage.cache_creation.input_tokens", .int(2))])
    return [
        PResource(attributes: [("service.name", .string("svc-a")), ("deployment.environment", .string("prod")), ("res.int", .int(-5))],
                  dropped: 2, schemaURL: "https://opentelemetry.io/schemas/1.21.0", scopes: [
                      PScope(name: "scope.one", version: "1.2.3",
                             attributes: [("scope.attr", .string("x")), ("scope.nested", .keyValueList([("a", .int(1)), ("b", .array([.bool(true)]))]))],
                             dropped: 1, schemaURL: "https://scope/1", spans: [d1]),
                  ]),
        PResource(attributes: [("service.name", .string("svc-c")), ("res.list", .array([.string(longText), .keyValueList([])])),
                               ("pyflare.environment", .string("dev"))],
                  scopes: [PScope(name: "scope.c", version: "0", spans: [d2, d3])]),
    ]
}

func richBatches() throws -> [NormalizedBatch] {
    [try normalized(richResourcesA()), try normalized(richResourcesB())]
}

// MARK: - Errors (files: PyFlareTesting)

/// The error `body` throws, or nil; an error of another type is an issue.
func storeError<T>(_ body: () throws -> T, sourceLocation: SourceLocation = #_sourceLocation) -> StoreError? {
    do {
        _ = try body()
        return nil
    } catch let error as StoreError {
        return error
    } catch {
        Issue.record("not a StoreError: \(error)", sourceLocation: sourceLocation)
        return nil
    }
}
