import CoreMetrics
import Logging
import NIOPosix
public import PyFlareWire

/// Reads of log records and metric points: from their segments (pruned by the catalog's
/// and the footers' zone maps) and from what is acknowledged but not yet sealed.
extension SpanStore {
    /// The log records matching `query`, newest first, one page.
    public func logs(_ query: LogQuery) async throws -> LogPage {
        // Memory first, as for traces: a seal committing in between leaves its records in this
        // snapshot and in a segment read below; the memory copy is dropped then.
        let memory = unsealed.withLock { $0.allLogs }
        var warnings: [String] = []
        let locations: [(path: String, blocks: [Int]?)]
        if let traceID = query.traceID {
            let found = try await index.locations(of: traceID, kind: .logs).filter { $0.state == .active }
            locations = Dictionary(grouping: found, by: \.path).map { ($0.key, $0.value.map(\.block)) }
        } else {
            locations = try await index.segmentPaths(kind: .logs, since: query.since, until: query.until).map { ($0, nil) }
        }
        let dataDirectory = configuration.dataDirectory
        let (sealed, sealedRanges, readWarnings) = try await threadPool.runIfActive { [self] in
            var batches: [LogBatch] = []
            var ranges: [ClosedRange<UInt64>] = []
            var warnings: [String] = []
            for (path, blocks) in locations {
                do {
                    let reader = try readers.reader(dataDirectory + "/" + path)
                    ranges.append(reader.footer.walSequences)
                    for block in blocks ?? Array(reader.footer.blocks.indices) {
                        let zone = reader.footer.blocks[block]
                        if let since = query.since, zone.maxStartTime < since { continue }
                        if let until = query.until, zone.minStartTime >= until { continue }
                        if let service = query.service, !zone.services.contains(service) { continue }
                        switch try readers.readFenced(reader.path, block: block, { try $0.logBatch(block: block) }) {
                        case .success(let batch): batches.append(batch)
                        case .failure(let fenced): warnings.append(reportFenced(fenced))
                        }
                    }
                } catch {
                    metrics.readErrors.increment()
                    logger.error("cannot read a log segment", metadata: ["error": "\(error)"])
                    warnings.append(StoreError.clientMessage(of: error))
                }
            }
            return (batches, ranges, warnings)
        }
        var candidates = Self.unsealedOnly(memory, sealedRanges)
        candidates.append(contentsOf: sealed)
        warnings.append(contentsOf: readWarnings)

        var matches: [(time: UInt64, key: UInt64, batch: Int, row: Int)] = []
        for (index, batch) in candidates.enumerated() {
            let services = batch.resourceServiceNames()
            for row in 0..<batch.count where query.matches(batch, row, services: services) {
                let time = LogQuery.time(of: batch, row), key = LogQuery.key(of: batch, row)
                if let cursor = query.cursor, (time, key) > (cursor.time, cursor.key) { continue }
                matches.append((time, key, index, row))
            }
        }
        matches.sort { ($0.time, $0.key) > ($1.time, $1.key) }
        // Identical records (same time and content) are told apart only by how many of them
        // the previous pages showed.
        if let cursor = query.cursor {
            let shown = matches.prefix { ($0.time, $0.key) == (cursor.time, cursor.key) }.count
            matches.removeFirst(min(shown, cursor.duplicates))
        }
        var page = LogPage()
        page.warnings = warnings
        var batchIndex: [Int: Int] = [:]
        for (position, match) in matches.enumerated() {
            if page.records.count == query.limit {
                let last = matches[position - 1]
                var duplicates = matches[..<position].reversed().prefix { ($0.time, $0.key) == (last.time, last.key) }.count
                if let cursor = query.cursor, (cursor.time, cursor.key) == (last.time, last.key) { duplicates += cursor.duplicates }
                page.nextCursor = LogQuery.Cursor(time: last.time, key: last.key, duplicates: duplicates)
                break
            }
            let position = batchIndex[match.batch] ?? {
                page.batches.append(candidates[match.batch])
                batchIndex[match.batch] = page.batches.count - 1
                return page.batches.count - 1
            }()
            page.records.append((position, match.row))
        }
        return page
    }

    /// Every metric name stored, with its type, unit and description.
    public func metricNames() async throws -> [MetricNameRow] {
        var rows = Dictionary(uniqueKeysWithValues: try await index.metricNames().map { ($0.name, $0) })
        for summary in MetricNameSummary.summarize(unsealed.withLock { $0.allMetrics.map(\.batch) }) {
            var row = rows[summary.name] ?? MetricNameRow(
                name: summary.name, type: summary.type.name, unit: summary.unit, description: summary.description,
                temporality: nil, monotonic: summary.monotonic, pointCount: 0,
                firstTime: summary.firstTime, lastTime: summary.lastTime, services: [])
            row.type = summary.type.name
            row.unit = summary.unit
            row.description = summary.description
            row.temporality = MetricBatch.temporalityName(summary.temporality)
            row.monotonic = summary.monotonic
            row.pointCount += summary.pointCount
            row.firstTime = min(row.firstTime, summary.firstTime)
            row.lastTime = max(row.lastTime, summary.lastTime)
            row.services = Array(Set(row.services).union(summary.services)).sorted()
            rows[summary.name] = row
        }
        return rows.values.sorted { $0.name < $1.name }
    }

    /// The batches holding points of metric `name` between `since` and `until`: segment
    /// blocks whose zone maps name the metric, and unsealed requests. Callers filter rows.
    public func metricBatches(name: String, since: UInt64?, until: UInt64?) async throws -> (batches: [MetricBatch], warnings: [String]) {
        let memory = unsealed.withLock { $0.allMetrics }
        let paths = try await index.segmentPaths(kind: .metricPoints, since: since, until: until, containing: name)
        let dataDirectory = configuration.dataDirectory
        let (sealed, sealedRanges, warnings) = try await threadPool.runIfActive { [self] in
            var batches: [MetricBatch] = []
            var ranges: [ClosedRange<UInt64>] = []
            var warnings: [String] = []
            for path in paths {
                do {
                    let reader = try readers.reader(dataDirectory + "/" + path)
                    ranges.append(reader.footer.walSequences)
                    for (block, zone) in reader.footer.blocks.enumerated() where zone.models.contains(name) {
                        if let since, zone.maxStartTime < since { continue }
                        if let until, zone.minStartTime >= until { continue }
                        switch try readers.readFenced(reader.path, block: block, { try $0.metricBatch(block: block) }) {
                        case .success(let batch): batches.append(batch)
                        case .failure(let fenced): warnings.append(reportFenced(fenced))
                        }
                    }
                } catch {
                    metrics.readErrors.increment()
                    logger.error("cannot read a metric segment", metadata: ["error": "\(error)"])
                    warnings.append(StoreError.clientMessage(of: error))
                }
            }
            return (batches, ranges, warnings)
        }
        // A seal committing between the two reads shows a request in both: the memory copy goes.
        return (sealed + Self.unsealedOnly(memory, sealedRanges), warnings)
    }

    /// The batches of `memory` whose WAL record is in none of the segments read.
    private static func unsealedOnly<Batch>(_ memory: [(sequence: UInt64, batch: Batch)], _ sealed: [ClosedRange<UInt64>]) -> [Batch] {
        memory.filter { entry in !sealed.contains { $0.contains(entry.sequence) } }.map(\.batch)
    }
}

/// One row of `metric_names`, as the API shows it.
public struct MetricNameRow: Sendable, Equatable {
    public var name: String
    public var type: String
    public var unit: String
    public var description: String
    public var temporality: String?
    public var monotonic: Bool
    public var pointCount: Int
    public var firstTime: UInt64
    public var lastTime: UInt64
    public var services: [String]
}

extension SpanStore {
    /// Counts a read that moved past an unreadable block and returns its report (the block
    /// was logged when it was fenced).
    func reportFenced(_ fenced: FencedBlock) -> String {
        metrics.readErrors.increment()
        return fenced.report
    }
}
