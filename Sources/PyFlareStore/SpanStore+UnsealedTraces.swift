import PyFlareModel
public import PyFlareWire

/// Trace summaries of spans acknowledged but not yet sealed, merged with the index's.
///
/// The `traces` table gets a trace's summary when a seal writes its spans, up to
/// `segments.max_age_ms` after they were acknowledged. A list that must show a trace as soon
/// as its spans are durable merges the summaries of the unsealed spans into the table's.
extension SpanStore {
    /// The summaries of the traces `query` selects, newest first, at most `query.limit`: the
    /// index's (written at seals) merged with those of the spans not sealed yet, so a trace is
    /// listed as soon as its spans are durable.
    public func liveTraces(_ query: TraceQuery) async throws -> [TraceSummaryRow] {
        // A seal that commits between the two reads would move spans from the unsealed records
        // into the index unseen (lost from a page, as paging one trace at a time showed), or
        // count them in both. The pair of reads is kept when no seal was committing before and
        // none began after; a commit takes milliseconds, so a short wait ends it. Past the
        // tries, the unsealed-first pair is kept: it can count a sealing trace twice, never miss it.
        var attempt = 0
        while true {
            let (batches, generation) = unsealed.withLock { ($0.allBatches, $0.commitGeneration) }
            let indexed = try await index.summaries(query)
            attempt += 1
            if attempt == 50 || (generation % 2 == 0 && unsealed.withLock({ $0.commitGeneration }) == generation) {
                return Self.merge(indexed, Self.unsealedSummaries(of: batches, query), query: query)
            }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    private static func merge(_ indexed: [TraceSummaryRow], _ unsealed: [TraceSummaryRow], query: TraceQuery) -> [TraceSummaryRow] {
        var rows = indexed
        var positions = Dictionary(uniqueKeysWithValues: rows.enumerated().map { ($1.traceID, $0) })
        for summary in unsealed where query.isPastCursor(summary) {
            if let position = positions[summary.traceID] {
                rows[position].merge(summary)
            } else {
                positions[summary.traceID] = rows.count
                rows.append(summary)
            }
        }
        rows.sort { ($0.startTime, $0.traceID) > ($1.startTime, $1.traceID) }
        return Array(rows.prefix(query.limit))
    }

    /// Summaries of the unsealed spans of the traces `query` selects (every filter but the
    /// cursor, as the index applies them), newest first.
    ///
    /// Only unsealed spans are counted: a trace with spans in segments too has a row in the
    /// index as well, combined with ``TraceSummaryRow/merge(_:)``.
    private static func unsealedSummaries(of batches: [NormalizedBatch], _ query: TraceQuery) -> [TraceSummaryRow] {
        var batches = batches
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
        return rows.sorted { ($0.startTime, $0.traceID) > ($1.startTime, $1.traceID) }
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
