public import PyFlareWire

/// A decoded batch plus the columns normalization derived from it, one element per span.
///
/// String columns are ``StringRef``s into the batch's arena (they point at attribute
/// values); an empty ref means "not present". Counts are nil when not reported.
public struct NormalizedBatch: Sendable {
    public var spans: SpanBatch
    public var columns: AIColumns
    /// Where the request was consumed from (the Kafka receiver); empty for OTLP.
    public var sourceOffsets: [SourceOffset] = []

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
    /// Index into ``priceModels`` of the price a span was costed with, or -1: the span keeps
    /// the model name of its price, whichever table it came from (built in, the config, or
    /// `PUT /api/v1/pricing`), so reading it back never depends on a table that may change.
    public var priceIndex: [Int32] = []
    /// The model names of the prices used in this batch, each once.
    public var priceModels: [String] = []
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

extension AIColumns {
    /// The model name of the price span `row` was costed with; nil when it was not costed from a price.
    @inlinable
    public func priceModel(_ row: Int) -> String? {
        let index = Int(priceIndex[row])
        return index >= 0 && index < priceModels.count ? priceModels[index] : nil
    }

    /// Records that a span is costed with the price of `model`; returns its index in ``priceModels``.
    public mutating func priceModelIndex(_ model: String) -> Int32 {
        if let index = priceModels.firstIndex(of: model) { return Int32(index) }
        priceModels.append(model)
        return Int32(priceModels.count - 1)
    }
}
