import PyFlareModel
import PyFlareWire

/// What one batch of spans adds to a trace's summary; merged into `traces` in SQL.
struct TraceSummary: Sendable, Equatable {
    var traceID: TraceID
    var rootService: String?
    var rootName: String?
    var startTime: UInt64 = .max
    var endTime: UInt64 = 0
    var spanCount = 0
    var errorCount = 0
    var inputTokens: Int64 = 0
    var outputTokens: Int64 = 0
    var totalTokens: Int64 = 0
    var costMicros: Int64?
    var unpricedCount = 0
    var services: Set<String> = []
    var models: Set<String> = []
    var user: String?
    var session: String?
    var feature: String?
    var environment: String?

    init(traceID: TraceID) {
        self.traceID = traceID
    }

    /// Summaries of every trace in `batches`.
    static func summarize(_ batches: [NormalizedBatch]) -> [TraceSummary] {
        var byTrace: [TraceID: Int] = [:]
        var summaries: [TraceSummary] = []
        var strings = StringCache()
        for (batchIndex, batch) in batches.enumerated() {
            let spans = batch.spans, columns = batch.columns
            for row in 0..<batch.count {
                let traceID = spans.traceIDs[row]
                let index: Int
                if let known = byTrace[traceID] {
                    index = known
                } else {
                    index = summaries.count
                    byTrace[traceID] = index
                    summaries.append(TraceSummary(traceID: traceID))
                }
                func text(_ ref: StringRef) -> String? { strings.string(ref, batch: batchIndex, in: spans) }
                summaries[index].add(row: row, spans: spans, columns: columns, text: text)
            }
        }
        return summaries
    }

    /// `spans` and `columns` are passed in (borrowed), not read from the batch here: that
    /// would copy, and retain, every column of the batch once per row.
    private mutating func add(row: Int, spans: SpanBatch, columns: AIColumns, text: (StringRef) -> String?) {
        spanCount += 1
        startTime = min(startTime, spans.startTimes[row])
        endTime = max(endTime, max(spans.endTimes[row], spans.startTimes[row]))
        if spans.statusCodes[row] == 2 { errorCount += 1 }
        let input = columns.inputTokens[row], output = columns.outputTokens[row]
        inputTokens = inputTokens.addingSaturating(input ?? 0)
        outputTokens = outputTokens.addingSaturating(output ?? 0)
        totalTokens = totalTokens.addingSaturating(columns.totalTokens[row] ?? (input ?? 0).addingSaturating(output ?? 0))
        if let cost = columns.costMicros[row] { costMicros = (costMicros ?? 0).addingSaturating(cost) }
        let model = text(columns.model[row])
        if let model { models.insert(model) }
        if columns.costMicros[row] == nil, model != nil, input != nil || output != nil { unpricedCount += 1 }
        let service = text(columns.service[row])
        if let service { services.insert(service) }
        if spans.parentSpanIDs[row] == 0 {
            rootService = service
            // Non-nil even when empty: the index takes the root's service only with its name.
            rootName = text(spans.names[row]) ?? ""
        }
        if user == nil { user = text(columns.user[row]) }
        if session == nil { session = text(columns.session[row]) }
        if feature == nil { feature = text(columns.feature[row]) }
        if environment == nil { environment = text(columns.environment[row]) }
    }
}

/// Strings of a batch made once per distinct reference, not once per row.
struct StringCache {
    private var cache: [SourceKey: String] = [:]

    private struct SourceKey: Hashable {
        var batch: Int
        var ref: UInt64
    }

    /// The text of `ref`, or nil when empty.
    mutating func string(_ ref: StringRef, batch: Int, in source: some OTLPBatch) -> String? {
        guard !ref.isEmpty else { return nil }
        let key = SourceKey(batch: batch, ref: ref.packed)
        if let known = cache[key] { return known }
        let text = source.string(ref)
        cache[key] = text
        return text
    }
}
