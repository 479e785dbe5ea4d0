import NIOPosix
import PyFlareModel
public import PyFlareWire

/// A page of traces found by free-text search, and what finding them read.
public struct TraceSearchPage: Sendable {
    /// Newest first, at most the query's limit plus one (the one after tells there is more).
    public var rows: [TraceSummaryRow] = []
    /// Blocks whose spans were decompressed and read, and those their token filter ruled out.
    public var blocksRead = 0
    public var blocksSkipped = 0
    public var spansMatched = 0
    /// Segments searched, of those the time range allowed; fewer when the page filled first.
    public var segmentsSearched = 0
    public var segmentsInRange = 0
    /// Blocks that could not be read.
    public var warnings: [String] = []
}

extension SpanStore {
    /// The traces that `query` selects with a span holding every word of `text`
    /// (``TextTokens``: whole words, any case), newest first, at most `query.limit`.
    ///
    /// Unsealed spans are searched first, then segments from the newest back; the search
    /// stops once the page is full of traces newer than anything the next segment can hold.
    /// A block whose token filter lacks a word is skipped without reading its text.
    public func searchTraces(_ query: TraceQuery, text: String) async throws -> TraceSearchPage {
        let words = TextTokens.words(of: text)
        var page = TraceSearchPage()
        guard !words.isEmpty else { return page }
        var unsealedQuery = TraceQuery()
        unsealedQuery.limit = .max
        let unsealedBatches = unsealed.withLock { $0.allBatches }
        let unsealedRows = Dictionary(unsealedTraceSummaries(unsealedQuery).map { ($0.traceID, $0) }) { first, _ in first }
        var found = Set<TraceID>()
        var candidates: [TraceSummaryRow] = []

        func admit(_ traceIDs: Set<TraceID>) async throws {
            let new = traceIDs.subtracting(found)
            guard !new.isEmpty else { return }
            found.formUnion(new)
            var rows = Dictionary(try await index.summaries(of: Array(new)).map { ($0.traceID, $0) }) { first, _ in first }
            for id in new {
                guard let unsealed = unsealedRows[id] else { continue }
                if rows[id] == nil { rows[id] = unsealed } else { rows[id]!.merge(unsealed) }
            }
            candidates += rows.values.filter { query.matchesFilters($0) && query.isPastCursor($0) }
            candidates.sort { ($0.startTime, $0.traceID) > ($1.startTime, $1.traceID) }
            if candidates.count > query.limit { candidates.removeLast(candidates.count - query.limit) }
        }

        var unsealedMatches = Set<TraceID>()
        for batch in unsealedBatches {
            batch.spans.bytes.withUnsafeBytes { arena in
                let spanText = SpanText(batch: batch.spans, arena: arena)
                for row in 0..<batch.count where spanText.contains(words, span: row) {
                    unsealedMatches.insert(batch.spans.traceIDs[row])
                    page.spansMatched += 1
                }
            }
        }
        try await admit(unsealedMatches)

        let segments = try await index.spanSegments(startingFrom: query.since)
        page.segmentsInRange = segments.count
        for segment in segments {
            // A trace starts no later than any of its spans: once the page holds `limit`
            // traces newer than every span left, no later segment can change it.
            if candidates.count >= query.limit, let last = candidates.last, last.startTime > segment.maxStartTime { break }
            let matches = try await search(segment.path, for: words, since: query.since, into: &page)
            page.segmentsSearched += 1
            try await admit(matches)
        }
        page.rows = candidates
        return page
    }

    /// The traces with a span of segment `path` holding every one of `words`.
    private func search(_ path: String, for words: [TextTokens.Word], since: UInt64?, into page: inout TraceSearchPage) async throws -> Set<TraceID> {
        let full = configuration.dataDirectory + "/" + path
        let (matches, stats) = try await threadPool.runIfActive { [self] in
            var stats = TraceSearchPage()
            var matches = Set<TraceID>()
            let blocks: [SegmentFooter.Block]
            switch try readers.readFenced(full, block: 0, { $0.footer.blocks }) {
            case .success(let footerBlocks): blocks = footerBlocks
            case .failure(let fenced):
                stats.warnings.append(reportFenced(fenced))
                return (matches, stats)
            }
            for (index, block) in blocks.enumerated() {
                if let since, block.maxStartTime < since { continue }
                switch try readers.readFenced(full, block: index, { try $0.spans(holding: words, block: index, pricing: pricing) }) {
                case .success(nil): stats.blocksSkipped += 1
                case .success(let spans?):
                    stats.blocksRead += 1
                    stats.spansMatched += spans.count
                    for span in spans { matches.insert(span.traceID) }
                case .failure(let fenced): stats.warnings.append(reportFenced(fenced))
                }
            }
            return (matches, stats)
        }
        page.blocksRead += stats.blocksRead
        page.blocksSkipped += stats.blocksSkipped
        page.spansMatched += stats.spansMatched
        page.warnings += stats.warnings
        return matches
    }
}
