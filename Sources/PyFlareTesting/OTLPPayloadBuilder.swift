public import PyFlareWire

/// Builds `ExportTraceServiceRequest` protobuf payloads for tests and benchmarks.
///
/// ```swift
/// var builder = OTLPPayloadBuilder()
/// builder.addSpan(resource: ["service.name": .string("chat")], attributes: ["gen_ai.request.model": .string("gpt-4o")])
/// let bytes = builder.payload()
/// ```
public struct OTLPPayloadBuilder: Sendable {
    public struct Span: Sendable {
        public var traceID: TraceID
        public var spanID: UInt64
        public var parentSpanID: UInt64 = 0
        public var name = "span"
        public var kind: UInt8 = 1
        public var startTime: UInt64 = 1_700_000_000_000_000_000
        public var endTime: UInt64 = 1_700_000_001_000_000_000
        public var attributes: [(String, AttributeValue)] = []
        public var statusCode: UInt8 = 0
        public var statusMessage = ""

        public init(traceID: TraceID, spanID: UInt64) {
            self.traceID = traceID
            self.spanID = spanID
        }
    }

    /// Spans grouped by resource, in insertion order.
    private var resources: [(attributes: [(String, AttributeValue)], spans: [Span])] = []

    public init() {}

    public mutating func add(_ span: Span, resource: [(String, AttributeValue)] = [("service.name", .string("test-service"))]) {
        if let index = resources.firstIndex(where: { Self.sameAttributes($0.attributes, resource) }) {
            resources[index].spans.append(span)
        } else {
            resources.append((resource, [span]))
        }
    }

    private static func sameAttributes(_ lhs: [(String, AttributeValue)], _ rhs: [(String, AttributeValue)]) -> Bool {
        lhs.count == rhs.count && zip(lhs, rhs).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }

    /// The encoded request.
    public func payload() -> [UInt8] {
        var writer = ProtoWriter()
        for resource in resources {
            writer.messageField(1) { resourceSpans in
                resourceSpans.messageField(1) { message in
                    for (key, value) in resource.attributes { Self.keyValue(key, value, field: 1, into: &message) }
                }
                resourceSpans.messageField(2) { scopeSpans in
                    scopeSpans.messageField(1) { scope in scope.stringField(1, "pyflare.tests") }
                    for span in resource.spans {
                        scopeSpans.messageField(2) { Self.encode(span, into: &$0) }
                    }
                }
            }
        }
        return writer.bytes
    }

    static func encode(_ span: Span, into message: inout ProtoWriter) {
        message.bytesField(1, span.traceID.bytes)
        message.spanIDField(2, span.spanID)
        if span.parentSpanID != 0 { message.spanIDField(4, span.parentSpanID) }
        message.stringField(5, span.name)
        message.varintField(6, UInt64(span.kind))
        message.fixed64Field(7, span.startTime)
        message.fixed64Field(8, span.endTime)
        for (key, value) in span.attributes { keyValue(key, value, field: 9, into: &message) }
        if span.statusCode != 0 || !span.statusMessage.isEmpty {
            message.messageField(15) { status in
                if !span.statusMessage.isEmpty { status.stringField(2, span.statusMessage) }
                status.varintField(3, UInt64(span.statusCode))
            }
        }
    }

    static func keyValue(_ key: String, _ value: AttributeValue, field: UInt32, into message: inout ProtoWriter) {
        message.keyValueField(field, key: key, value: value)
    }
}

/// A deterministic generator for ids and choices in tests (SplitMix64).
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func traceID() -> TraceID { TraceID(high: next() | 1, low: next()) }
}
