public import PyFlareWire

/// Derives model, provider, operation, tokens, cost, user, session, feature,
/// environment and service for every span of a batch, from the attribute
/// conventions real instrumentations emit (OTel GenAI, OpenInference, OpenLLMetry,
/// `pyflare.*`). Span attributes win over resource attributes; original attributes
/// are left untouched.
public struct SpanNormalizer: Sendable {
    private let prices: LivePricing
    private let matcher = AttributeKeyMatcher()

    public init(pricing: PricingTable = .builtIn()) {
        prices = LivePricing(builtIn: pricing)
    }

    /// Prices from `pricing` as it is when each batch arrives.
    public init(pricing: LivePricing) {
        prices = pricing
    }

    /// The prices the next batch is normalized with.
    public var pricing: PricingTable { prices.table }

    /// The best value found so far for each column: its precedence rank and raw value.
    struct Found {
        var rank: [UInt8]
        var kind: [ValueKind]
        var payload: [UInt64]

        init() {
            let count = NormalizedColumn.allCases.count
            rank = Array(repeating: .max, count: count)
            kind = Array(repeating: .empty, count: count)
            payload = Array(repeating: 0, count: count)
        }

        mutating func reset() {
            for index in rank.indices { rank[index] = .max }
        }

        @inline(__always)
        func has(_ column: NormalizedColumn) -> Bool { rank[column.rawValue] != .max }
    }

    public func normalize(_ batch: SpanBatch) -> NormalizedBatch {
        var columns = AIColumns()
        columns.reserveCapacity(batch.count)
        // Resource attributes are scanned once per resource, not once per span.
        var resourceFound: [Found] = []
        resourceFound.reserveCapacity(batch.resources.count)
        for resource in 0..<batch.resources.count {
            var found = Found()
            collect(batch.resources.attributes[resource], of: batch, into: &found)
            resourceFound.append(found)
        }
        var priceCache = PriceLookupCache(pricing: pricing)
        var found = Found()
        for span in 0..<batch.count {
            found.reset()
            collect(batch.spanAttributes[span], of: batch, into: &found)
            let scope = Int(batch.scopeIndices[span])
            let resource = Int(batch.scopes.resourceIndices[scope])
            append(span: span, found: found, resource: resourceFound[resource], batch: batch, priceCache: &priceCache, to: &columns)
        }
        return NormalizedBatch(spans: batch, columns: columns)
    }

    private func collect(_ range: RowRange, of batch: SpanBatch, into found: inout Found) {
        let table = batch.attributes
        batch.bytes.withUnsafeBytes { arena in
            for row in range.indices {
                let key = table.keys[row]
                matcher.forEachMatch(UnsafeRawBufferPointer(rebasing: arena[key.range])) { rule in
                    let column = Int(rule.column)
                    if rule.rank < found.rank[column], table.kinds[row] != .empty {
                        found.rank[column] = rule.rank
                        found.kind[column] = table.kinds[row]
                        found.payload[column] = table.payloads[row]
                    }
                }
            }
        }
    }

    private func append(span: Int, found: Found, resource: Found, batch: SpanBatch,
                        priceCache: inout PriceLookupCache, to columns: inout AIColumns) {
        func pick(_ column: NormalizedColumn) -> (ValueKind, UInt64)? {
            if found.has(column) { return (found.kind[column.rawValue], found.payload[column.rawValue]) }
            if resource.has(column) { return (resource.kind[column.rawValue], resource.payload[column.rawValue]) }
            return nil
        }
        func text(_ column: NormalizedColumn) -> StringRef {
            guard let (kind, payload) = pick(column), kind == .string else { return .empty }
            return StringRef(packed: payload)
        }
        func integer(_ column: NormalizedColumn) -> Int64? {
            guard let (kind, payload) = pick(column) else { return nil }
            return ValueConversion.integer(kind: kind, payload: payload, in: batch)
        }
        func dollars(_ column: NormalizedColumn) -> Double? {
            guard let (kind, payload) = pick(column) else { return nil }
            return ValueConversion.double(kind: kind, payload: payload, in: batch)
        }

        let model = text(.model)
        let responseModel = text(.responseModel)
        let operation = text(.operation)
        columns.service.append(text(.service))
        columns.model.append(model)
        columns.responseModel.append(responseModel)
        columns.provider.append(text(.provider))
        columns.operation.append(operation)
        columns.user.append(text(.user))
        columns.session.append(text(.session))
        columns.feature.append(text(.feature))
        columns.environment.append(text(.environment))

        var kind = AIKind.none
        if case let ref = text(.openInferenceKind), !ref.isEmpty { kind = batch.withBytes(ref) { AIKind(conventionName: $0) } }
        if kind == .none, case let ref = text(.traceloopKind), !ref.isEmpty { kind = batch.withBytes(ref) { AIKind(conventionName: $0) } }
        if kind == .none, !operation.isEmpty { kind = batch.withBytes(operation) { AIKind(operation: $0) } }
        if kind == .none, !model.isEmpty { kind = .llm }
        columns.kind.append(kind)

        let input = integer(.inputTokens)
        let output = integer(.outputTokens)
        let cacheRead = integer(.cacheReadTokens)
        let cacheWrite = integer(.cacheWriteTokens)
        columns.inputTokens.append(input)
        columns.outputTokens.append(output)
        columns.cacheReadTokens.append(cacheRead)
        columns.cacheWriteTokens.append(cacheWrite)
        columns.reasoningTokens.append(integer(.reasoningTokens))
        let total = integer(.totalTokens) ?? ((input != nil || output != nil) ? (input ?? 0).addingSaturating(output ?? 0) : nil)
        columns.totalTokens.append(total)

        // Cost: the span's own figure first, then tokens × price.
        var cost: Int64?
        var source = CostSource.none
        var priceIndex: Int32 = -1
        if let micros = integer(.costMicros) {
            cost = micros
        } else if let usd = dollars(.costUSD) {
            cost = Int64((usd * 1_000_000).rounded())
        } else if let prompt = dollars(.costPromptUSD), let completion = dollars(.costCompletionUSD) {
            cost = Int64(((prompt + completion) * 1_000_000).rounded())
        }
        if cost != nil {
            source = .span
        } else if input != nil || output != nil || cacheRead != nil || cacheWrite != nil {
            // The response model is the more specific (dated) name; fall back to the requested one.
            let index = lookUpPrice(responseModel, batch: batch, cache: &priceCache)
                ?? lookUpPrice(model, batch: batch, cache: &priceCache)
            if let index {
                let usage = TokenUsage(input: input ?? 0, output: output ?? 0, cacheRead: cacheRead ?? 0, cacheWrite: cacheWrite ?? 0)
                cost = priceCache.pricing.entries[index].costMicros(usage)
                source = .pricing
                priceIndex = columns.priceModelIndex(priceCache.pricing.entries[index].model)
            } else {
                columns.unpricedCount += 1
            }
        }
        columns.costMicros.append(cost)
        columns.costSource.append(source)
        columns.priceIndex.append(priceIndex)
    }

    private func lookUpPrice(_ model: StringRef, batch: SpanBatch, cache: inout PriceLookupCache) -> Int? {
        guard !model.isEmpty else { return nil }
        return cache.index(for: model, in: batch)
    }
}
