import PyFlareModel
public import PyFlareWire

/// Trace summaries of spans acknowledged but not yet sealed.
///
/// The `traces` table gets a trace's summary when a seal writes its spans, up to
/// `segments.max_age_ms` after they were acknowledged. A list that must show a trace as soon
/// as its spans are durable (the telemetry API's) merges these summaries into the table's.
extension SpanStore {
    /// Summaries of the unsealed spans of the traces `query` selects (every filter but the
    /// cursor, as ``traces(_:)`` applies them), newest first, at most `query.limit`.
    ///
    /// Only unsealed spans are counted: a trace with spans in segments too has a row in
    /// ``traces(_:)`` as well, to be combined with ``TraceSummaryRow/merge(_:)``. While a seal
    /// commits, its spans can be counted in both for a moment.
    public func unsealedTraceSummaries(_ query: TraceQuery) -> [TraceSummaryRow] {
        var batches = unsealed.withLock { $0.allBatches }
        if let service = query.service {
            // Keep every span of the traces in which some span has the service, as the index's filter does.
            var traces = Set<TraceID>()
            for batch in batches {
                for row in 0..<batch.count where batch.spans.withBytes(batch.columns.service[row], { $0.elementsEqual(service.utf8) }) {
                    traces.insert(batch.spans.traceIDs[row])
                }
            }
            guard !traces.isEmpty else { return [] }
            batches = batches.compactMap { batch in
                var batch = batch
                batch.retain(batch.spans.traceIDs.map(traces.contains))
                return batch.count > 0 ? batch : nil
            }
        }
        let rows = TraceSummary.summarize(batches).map(TraceSummaryRow.init(summary:)).filter(query.matchesFilters)
        return Array(rows.sorted { ($0.startTime, $0.traceID) > ($1.startTime, $1.traceID) }.prefix(query.limit))
    }
}

extension TraceSummaryRow {
    init(summary: TraceSummary) {
        traceID = summary.traceID
        rootService = summary.rootService
        rootName = summary.rootName
        startTime = summary.startTime
        endTime = summary.endTime
        spanCount = summary.spanCount
        errorCount = summary.errorCount
        inputTokens = summary.inputTokens
        outputTokens = summary.outputTokens
        totalTokens = summary.totalTokens
        costMicros = summary.costMicros
        unpricedCount = summary.unpricedCount
        services = summary.services.sorted()
        models = summary.models.sorted()
        user = summary.user
        session = summary.session
        feature = summary.feature
        environment = summary.environment
    }

    /// Adds the summary of other spans of the same trace, as a seal merges a batch into `traces`.
    public mutating func merge(_ other: TraceSummaryRow) {
        if other.rootName != nil {
            rootService = other.rootService
            rootName = other.rootName
        }
        startTime = min(startTime, other.startTime)
        endTime = max(endTime, other.endTime)
        spanCount += other.spanCount
        errorCount += other.errorCount
        inputTokens = inputTokens.addingSaturating(other.inputTokens)
        outputTokens = outputTokens.addingSaturating(other.outputTokens)
        totalTokens = totalTokens.addingSaturating(other.totalTokens)
        if let cost = other.costMicros { costMicros = (costMicros ?? 0).addingSaturating(cost) }
        unpricedCount += other.unpricedCount
        services = Array(Set(services).union(other.services)).sorted()
        models = Array(Set(models).union(other.models)).sorted()
        user = user ?? other.user
        session = session ?? other.session
        feature = feature ?? other.feature
        environment = environment ?? other.environment
    }
}
