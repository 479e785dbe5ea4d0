/// Decoded spans as a struct of arrays: one array per field, one element per span.
///
/// Strings are ``StringRef``s into ``bytes``, the batch's arena (for protobuf input,
/// the request body itself). Attributes of every owner live in ``attributes``;
/// events and links have tables of their own. Nothing here allocates per span.
public struct SpanBatch: OTLPBatch, Sendable {
    /// The arena every ``StringRef`` of this batch points into.
    public var bytes: [UInt8]

    public var resources = ResourceTable()
    public var scopes = ScopeTable()

    // Span columns, one element per span.
    public var traceIDs: [TraceID] = []
    public var spanIDs: [UInt64] = []
    /// 0 for a root span.
    public var parentSpanIDs: [UInt64] = []
    public var traceStates: [StringRef] = []
    public var flags: [UInt32] = []
    public var names: [StringRef] = []
    /// OTLP `SpanKind`: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
    public var kinds: [UInt8] = []
    public var startTimes: [UInt64] = []
    public var endTimes: [UInt64] = []
    public var spanAttributes: [RowRange] = []
    public var droppedAttributeCounts: [UInt32] = []
    public var spanEvents: [RowRange] = []
    public var droppedEventCounts: [UInt32] = []
    public var spanLinks: [RowRange] = []
    public var droppedLinkCounts: [UInt32] = []
    /// OTLP `Status.code`: 0 unset, 1 ok, 2 error.
    public var statusCodes: [UInt8] = []
    public var statusMessages: [StringRef] = []
    /// Index into ``scopes``.
    public var scopeIndices: [UInt32] = []

    /// Attributes of resources, scopes and spans.
    public var attributes = AttributeTable()
    public var eventAttributes = AttributeTable()
    public var linkAttributes = AttributeTable()
    /// Elements of array and key/value-list values, from any of the attribute tables.
    public var nestedValues = AttributeTable()
    public var events = EventTable()
    public var links = LinkTable()

    /// Spans refused one by one (empty or all-zero ids); the others were kept.
    public var rejectedSpanCount = 0
    /// Why the first refused span was refused.
    public var rejectionMessage: String?
    /// ``bytes`` is exactly the protobuf `ExportTraceServiceRequest` these spans were decoded
    /// from, so decoding it again gives them back: the WAL then keeps the request as received.
    public var arenaIsProtobufRequest = false

    public init(bytes: [UInt8] = []) {
        self.bytes = bytes
    }

    @inlinable public var count: Int { spanIDs.count }
    @inlinable public var isEmpty: Bool { spanIDs.isEmpty }
}

/// The `Resource`s of a request, one row per `ResourceSpans`/`ResourceLogs`/`ResourceMetrics`.
public struct ResourceTable: Sendable {
    public var attributes: [RowRange] = []
    public var droppedAttributeCounts: [UInt32] = []
    public var schemaURLs: [StringRef] = []

    public init() {}
    @inlinable public var count: Int { attributes.count }
}

/// The instrumentation scopes of a request, one row per `ScopeSpans`/`ScopeLogs`/`ScopeMetrics`,
/// so records point at their scope and through it at their resource instead of repeating both.
public struct ScopeTable: Sendable {
    public var names: [StringRef] = []
    public var versions: [StringRef] = []
    public var attributes: [RowRange] = []
    public var droppedAttributeCounts: [UInt32] = []
    /// The `schema_url` of the enclosing `ScopeSpans`, `ScopeLogs` or `ScopeMetrics`.
    public var schemaURLs: [StringRef] = []
    /// Index into the batch's ``OTLPBatch/resources``.
    public var resourceIndices: [UInt32] = []

    public init() {}
    @inlinable public var count: Int { names.count }
}

public struct EventTable: Sendable {
    public var times: [UInt64] = []
    public var names: [StringRef] = []
    public var attributes: [RowRange] = []
    public var droppedAttributeCounts: [UInt32] = []

    public init() {}
    @inlinable public var count: Int { times.count }
}

public struct LinkTable: Sendable {
    public var traceIDs: [TraceID] = []
    public var spanIDs: [UInt64] = []
    public var traceStates: [StringRef] = []
    public var attributes: [RowRange] = []
    public var droppedAttributeCounts: [UInt32] = []
    public var flags: [UInt32] = []

    public init() {}
    @inlinable public var count: Int { spanIDs.count }
}
