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
        let unsealedBatches = unsealed.withLock { $0.allBatches }
        var found = Set<TraceID>()
        var candidates: [TraceSummaryRow] = []

        func admit(_ traceIDs: Set<TraceID>) async throws {
            let new = traceIDs.subtracting(found)
            guard !new.isEmpty else { return }
            found.formUnion(new)
            var rows = Dictionary(try await index.summaries(of: Array(new)).map { ($0.traceID, $0) }) { first, _ in first }
            // The unsealed spans of these traces only: summarizing them all would cost every search.
            let unsealedOfNew = unsealedBatches.compactMap { batch -> NormalizedBatch? in
                let keep = batch.spans.traceIDs.map(new.contains)
                guard keep.contains(true) else { return nil }
                var kept = batch
                kept.retain(keep)
                return kept
            }
            for summary in TraceSummary.summarize(unsealedOfNew).map(TraceSummaryRow.init(summary:)) {
                if rows[summary.traceID] == nil { rows[summary.traceID] = summary } else { rows[summary.traceID]!.merge(summary) }
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

        let segments = try await index.segmentPaths(kind: .spans, since: query.since, until: nil)
        page.segmentsInRange = segments.count
        var blocks = try await searchableBlocks(of: segments, since: query.since, into: &page)
        // Newest blocks first, across segments: a segment's spans are sorted by service and then
        // trace start, so its blocks cover narrow time ranges even when the segments overlap.
        blocks.sort { $0.maxStartTime > $1.maxStartTime }
        var next = 0
        while next < blocks.count {
            // A trace starts no later than any of its spans: once the page holds `limit` traces
            // newer than every span left, no later block can change it.
            if candidates.count >= query.limit, let last = candidates.last, last.startTime > blocks[next].maxStartTime { break }
            // A few blocks a trip to the thread pool; the page is checked between trips.
            let batch = Array(blocks[next..<min(next + Self.blocksPerSearchStep, blocks.count)])
            next += batch.count
            try await admit(try await search(batch, for: words, into: &page))
        }
        page.segmentsSearched = Set(blocks[..<next].map(\.path)).count
        page.rows = candidates
        return page
    }

    private static let blocksPerSearchStep = 16

    /// A block a search may read: its segment, its index there and its newest span start.
    private struct SearchableBlock: Sendable {
        var path: String
        var index: Int
        var maxStartTime: UInt64
    }

    /// The blocks of the segments at `paths` holding spans that start at `since` or later, from
    /// their footers.
    private func searchableBlocks(of paths: [String], since: UInt64?, into page: inout TraceSearchPage) async throws -> [SearchableBlock] {
        let dataDirectory = configuration.dataDirectory
        let (blocks, warnings) = try await threadPool.runIfActive { [self] in
            var blocks: [SearchableBlock] = []
            var warnings: [String] = []
            for path in paths {
                let full = dataDirectory + "/" + path
                switch try readers.readFenced(full, block: 0, { $0.footer.blocks }) {
                case .success(let footerBlocks):
                    for (index, block) in footerBlocks.enumerated() where since.map({ block.maxStartTime >= $0 }) ?? true {
                        blocks.append(SearchableBlock(path: full, index: index, maxStartTime: block.maxStartTime))
                    }
                case .failure(let fenced): warnings.append(reportFenced(fenced))
                }
            }
            return (blocks, warnings)
        }
        page.warnings += warnings
        return blocks
    }

    /// The traces with a span in `blocks` holding every one of `words`.
    private func search(_ blocks: [SearchableBlock], for words: [TextTokens.Word], into page: inout TraceSearchPage) async throws -> Set<TraceID> {
        let (matches, stats) = try await threadPool.runIfActive { [self] in
            var stats = TraceSearchPage()
            var matches = Set<TraceID>()
            for block in blocks {
                switch try readers.readFenced(block.path, block: block.index, { try $0.spans(holding: words, block: block.index, pricing: pricing) }) {
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
