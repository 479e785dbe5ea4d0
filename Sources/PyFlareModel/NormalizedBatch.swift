public import PyFlareWire

/// A decoded batch plus the columns normalization derived from it, one element per span.
///
/// String columns are ``StringRef``s into the batch's arena (they point at attribute
/// values); an empty ref means "not present". Counts are nil when not reported.
public struct NormalizedBatch: Sendable {
    public var spans: SpanBatch
    public var columns: AIColumns

    public init(spans: SpanBatch, columns: AIColumns) {
        self.spans = spans
        self.columns = columns
    }

    @inlinable public var count: Int { spans.count }
}

public struct AIColumns: Sendable {
    public var service: [StringRef] = []
    /// The requested model (else the response model).
    public var model: [StringRef] = []
    public var responseModel: [StringRef] = []
    public var provider: [StringRef] = []
    public var operation: [StringRef] = []
    public var kind: [AIKind] = []
    public var inputTokens: [Int64?] = []
    public var outputTokens: [Int64?] = []
    public var cacheReadTokens: [Int64?] = []
    public var cacheWriteTokens: [Int64?] = []
    public var reasoningTokens: [Int64?] = []
    public var totalTokens: [Int64?] = []
    public var costMicros: [Int64?] = []
    public var costSource: [CostSource] = []
    /// Index into the pricing table's entries of the price used, or -1.
    public var priceIndex: [Int32] = []
    public var user: [StringRef] = []
    public var session: [StringRef] = []
    public var feature: [StringRef] = []
    public var environment: [StringRef] = []
    /// Spans that reported tokens for a model the pricing table does not know.
    public var unpricedCount = 0

    public init() {}

    mutating func reserveCapacity(_ capacity: Int) {
        service.reserveCapacity(capacity)
        model.reserveCapacity(capacity)
        responseModel.reserveCapacity(capacity)
        provider.reserveCapacity(capacity)
        operation.reserveCapacity(capacity)
        kind.reserveCapacity(capacity)
        inputTokens.reserveCapacity(capacity)
        outputTokens.reserveCapacity(capacity)
        cacheReadTokens.reserveCapacity(capacity)
        cacheWriteTokens.reserveCapacity(capacity)
        reasoningTokens.reserveCapacity(capacity)
        totalTokens.reserveCapacity(capacity)
        costMicros.reserveCapacity(capacity)
        costSource.reserveCapacity(capacity)
        priceIndex.reserveCapacity(capacity)
        user.reserveCapacity(capacity)
        session.reserveCapacity(capacity)
        feature.reserveCapacity(capacity)
        environment.reserveCapacity(capacity)
    }
}
