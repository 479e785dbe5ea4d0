/// What a segment file holds; the header's kind field (`docs/segment-format.md`).
public enum SegmentKind: UInt16, Sendable, CaseIterable {
    case spans = 0
    case logs = 1
    case metricPoints = 2

    public var name: String {
        switch self {
        case .spans: "spans"
        case .logs: "logs"
        case .metricPoints: "metric_points"
        }
    }
}

/// The columns of one kind of segment. Raw values are part of the file format: never
/// renumber, only add. A reader skips columns it was not asked for and fails on a
/// required one that is missing.
protocol SegmentColumn: CaseIterable, Sendable, Hashable where AllCases == [Self] {
    static var segmentKind: SegmentKind { get }
    var rawValue: UInt8 { get }
    /// The column's name in the footer's catalog, in `segment scan` and in SQL.
    var name: String { get }
    /// How the column's values are laid out before compression.
    var encoding: ColumnEncoding { get }
    /// zstd level of the column's chunks.
    var compressionLevel: Int32 { get }
}

/// The columns of a span block, as stored in segment files and WAL records.
package enum SpanColumn: UInt8, SegmentColumn {
    static let segmentKind = SegmentKind.spans

    case traceID = 1, spanID, parentSpanID, traceState, flags, name, kind
    case startTime, duration, statusCode, statusMessage
    case droppedAttributes, droppedEvents, droppedLinks
    case resource, scope, attributes, largeText, events, links
    case service, model, responseModel, provider, operation, aiKind
    case inputTokens, outputTokens, cacheReadTokens, cacheWriteTokens, reasoningTokens, totalTokens
    case costMicros, costSource, priceModel, user, session, feature, environment
    /// Written by seals and compactions only (not WAL records): see ``TokenFilter``.
    case textTokens

    public var name: String {
        switch self {
        case .traceID: "trace_id"
        case .spanID: "span_id"
        case .parentSpanID: "parent_span_id"
        case .traceState: "trace_state"
        case .flags: "flags"
        case .name: "name"
        case .kind: "kind"
        case .startTime: "start_time"
        case .duration: "duration"
        case .statusCode: "status_code"
        case .statusMessage: "status_message"
        case .droppedAttributes: "dropped_attributes_count"
        case .droppedEvents: "dropped_events_count"
        case .droppedLinks: "dropped_links_count"
        case .resource: "resource"
        case .scope: "scope"
        case .attributes: "attributes"
        case .largeText: "large_text"
        case .events: "events"
        case .links: "links"
        case .service: "service"
        case .model: "model"
        case .responseModel: "response_model"
        case .provider: "provider"
        case .operation: "operation"
        case .aiKind: "ai_kind"
        case .inputTokens: "input_tokens"
        case .outputTokens: "output_tokens"
        case .cacheReadTokens: "cache_read_tokens"
        case .cacheWriteTokens: "cache_write_tokens"
        case .reasoningTokens: "reasoning_tokens"
        case .totalTokens: "total_tokens"
        case .costMicros: "cost_micros"
        case .costSource: "cost_source"
        case .priceModel: "price_model"
        case .user: "user"
        case .session: "session"
        case .feature: "feature"
        case .environment: "environment"
        case .textTokens: "text_tokens"
        }
    }

    /// How the column's values are laid out before compression.
    var encoding: ColumnEncoding {
        switch self {
        case .traceID: .idDictionary
        case .spanID: .fixed64
        case .parentSpanID: .spanReference
        case .startTime: .deltaVarint
        case .duration: .zigzagVarint
        case .flags, .kind, .statusCode, .droppedAttributes, .droppedEvents, .droppedLinks, .aiKind, .costSource: .varint
        case .inputTokens, .outputTokens, .cacheReadTokens, .cacheWriteTokens, .reasoningTokens, .totalTokens, .costMicros:
            .nullableVarint
        case .attributes, .largeText, .events, .links: .blobs
        case .textTokens: .tokenFilter
        case .traceState, .name, .statusMessage, .resource, .scope, .service, .model, .responseModel, .provider,
             .operation, .priceModel, .user, .session, .feature, .environment: .dictionary
        }
    }

    /// zstd level: text compresses far better at a higher level and is rarely read;
    /// the rest is small and read by every scan.
    var compressionLevel: Int32 { self == .largeText ? 3 : 1 }
}

/// The byte layout of a column chunk before compression; see `docs/segment-format.md`.
enum ColumnEncoding: UInt8, Sendable {
    /// 8 bytes little-endian per row.
    case fixed64 = 1
    /// Distinct 16-byte ids, then one varint index per row.
    case idDictionary
    /// Per row: 0 for none, 1 and 8 bytes for an id not in the block, n ≥ 2 for the id of row n − 2.
    case spanReference
    /// The first value, then differences from the previous row, each zigzag varint.
    case deltaVarint
    /// One zigzag varint per row.
    case zigzagVarint
    /// One unsigned varint per row.
    case varint
    /// One varint per row: 0 for null, else zigzag(value) + 1.
    case nullableVarint
    /// Distinct non-empty byte strings, then one varint per row: 0 for empty, else entry + 1.
    case dictionary
    /// One varint length per row, then the rows' bytes back to back.
    case blobs
    /// Per row: 0 for null, or 1 and 8 bytes little-endian (a double's bit pattern).
    case nullableFixed64
    /// Not per row: a Bloom filter of the block's words (``TokenFilter``).
    case tokenFilter
}

/// A set of span columns as a bit mask of their raw values: what a scan decompresses.
package struct SpanColumnSet: Sendable, Equatable {
    private(set) var bits: UInt64 = 0

    package init() {}

    package init(_ columns: some Sequence<SpanColumn>) {
        for column in columns { insert(column) }
    }

    func contains(_ column: SpanColumn) -> Bool { bits & (1 << UInt64(column.rawValue)) != 0 }

    package mutating func insert(_ column: SpanColumn) { bits |= 1 << UInt64(column.rawValue) }

    package var columns: [SpanColumn] { SpanColumn.allCases.filter(contains) }

    /// With the columns the decoder needs to rebuild these: parents are stored as rows of
    /// the block, durations and event times relative to the start, large text apart from
    /// the attributes that refer to it, and scopes next to their resources.
    package var closure: SpanColumnSet {
        var set = self
        if contains(.parentSpanID) { set.insert(.spanID) }
        if contains(.duration) || contains(.events) { set.insert(.startTime) }
        if contains(.attributes) { set.insert(.largeText) }
        if contains(.resource) || contains(.scope) {
            set.insert(.resource)
            set.insert(.scope)
        }
        return set
    }
}
