#if canImport(Glibc)
import Glibc
#endif
import CoreMetrics
import Logging
import Metrics
import NIOPosix
import Synchronization
public import PyFlareModel
public import PyFlareWire

/// The durable store: spans go to the WAL (acknowledged once durable), gather in memory,
/// and are sealed into segment files recorded in the SQLite index.
///
/// A seal writes the segment to a temporary file, syncs it, renames it, syncs the
/// directory, and only then records it in `index.db` (segment row, trace index rows,
/// trace summaries and the sealed WAL position in one transaction). WAL files are
/// deleted only after that commit. ``open(configuration:pricing:logger:)`` recovers
/// from any point of that sequence.
public final class SpanStore: SpanSink, RecordSink, Sendable {
    public let configuration: SpanStoreConfiguration
    package let pricing: PricingTable
    let index: IndexDatabase
    private let wal: WriteAheadLog<WALEntry>
    package let unsealed: SharedUnsealed
    package let readers: SegmentReaderCache
    private let writer: SegmentWriter
    private let logWriter: LogSegmentWriter
    private let metricWriter: MetricSegmentWriter
    let threadPool: NIOThreadPool
    /// Seals build segments here, one seal at a time on two threads at ``BackgroundPriority``:
    /// ingest and queries go first, sealing takes the CPU they leave (the unsealed spans in
    /// memory absorb a burst; past `maxUnsealedBytes` writers wait for sealing).
    private let sealThreads: NIOThreadPool
    let logger: Logger
    let metrics = StoreMetrics()
    private let sealer = Mutex<Task<Void, Never>?>(nil)
    private let stopping = Mutex(false)
    /// Only the seal (one at a time) touches it.
    private let recentSpans = Mutex(RecentSpans())
    /// With `forwardsRecords`: where the forwarder reads the WAL, and the last record it sent.
    let forwardTail: Mutex<WALTail>
    let forwarded: Mutex<UInt64>
    /// The last WAL record in a segment.
    private let sealedSequence: Mutex<UInt64>

    private init(configuration: SpanStoreConfiguration, pricing: PricingTable, index: IndexDatabase, remote: RemoteSegments?,
                 recovered: [Unsealed.Entry], nextSequence: UInt64, sealedSequence: UInt64, forwardedSequence: UInt64,
                 threadPool: NIOThreadPool, logger: Logger) {
        self.configuration = configuration
        self.sealedSequence = Mutex(sealedSequence)
        forwardTail = Mutex(WALTail(after: forwardedSequence))
        forwarded = Mutex(forwardedSequence)
        self.pricing = pricing
        self.index = index
        self.threadPool = threadPool
        sealThreads = NIOThreadPool(numberOfThreads: 2)
        sealThreads.start()
        self.logger = logger
        readers = SegmentReaderCache(logger: logger, remote: remote)
        writer = SegmentWriter(blockRows: configuration.blockRows, pricing: pricing)
        logWriter = LogSegmentWriter(blockRows: configuration.blockRows)
        metricWriter = MetricSegmentWriter(blockRows: configuration.blockRows)
        var memory = Unsealed()
        for entry in recovered { memory.append(entry) }
        let unsealed = SharedUnsealed(memory)
        self.unsealed = unsealed
        let metrics = metrics
        wal = WriteAheadLog(
            configuration: .init(directory: configuration.walDirectory, syncMode: configuration.walSync,
                                 syncInterval: configuration.walSyncInterval, maxFileBytes: configuration.walMaxFileBytes),
            nextSequence: nextSequence, threadPool: threadPool
        ) { records in
            unsealed.withLock { unsealed in
                for (sequence, item) in records { unsealed.append(Unsealed.Entry(sequence: sequence, item: item)) }
                metrics.unsealedSpans.record(unsealed.spanCount)
            }
            metrics.walGroups.increment()
            metrics.walRecords.increment(by: records.count)
        }
    }

    /// Opens the store in `configuration.dataDirectory`, recovering from a crash if there was one,
    /// and starts sealing in the background.
    public static func open(configuration: SpanStoreConfiguration, pricing: PricingTable, logger: Logger,
                            threadPool: NIOThreadPool = .singleton) async throws -> SpanStore {
        let remote = try configuration.remote.map { (settings) throws(StoreError) in
            try RemoteSegments(settings: settings, dataDirectory: configuration.dataDirectory)
        }
        let recovery = StoreRecovery(configuration: configuration, pricing: pricing, logger: logger, threadPool: threadPool, remote: remote)
        let (index, entries, nextSequence) = try await recovery.run()
        let forwardedSequence = try await index.read("reading the forwarded WAL position") { db in
            try StoreCatalog.value(forKey: SpanStore.forwardedPositionKey, db).map { UInt64($0) } ?? 0
        }
        let store = SpanStore(configuration: configuration, pricing: pricing, index: index, remote: remote, recovered: entries,
                              nextSequence: nextSequence, sealedSequence: try await index.sealedSequence(), forwardedSequence: forwardedSequence, threadPool: threadPool, logger: logger)
        store.sealer.withLock { $0 = Task { await store.sealPeriodically() } }
        return store
    }

    /// Requests forwarded as received must be protobuf.
    public var takesProtobufOnly: Bool { configuration.forwardsRecords }

    // MARK: - Writing

    /// Appends `batches` to the WAL as one record; returns once it is durable.
    public func write(_ batches: [NormalizedBatch]) async throws {
        let nonEmpty = batches.filter { !$0.spans.isEmpty }
        guard !nonEmpty.isEmpty else { return }
        try await append(.spans(nonEmpty))
    }

    /// Appends one request's log records to the WAL; returns once they are durable.
    public func writeLogs(_ batch: LogBatch) async throws {
        guard !batch.isEmpty else { return }
        try await append(.logs(batch))
    }

    /// Appends one request's metric points to the WAL; returns once they are durable.
    public func writeMetrics(_ batch: MetricBatch) async throws {
        guard !batch.isEmpty else { return }
        try await append(.metrics(batch))
    }

    private func append(_ entry: WALEntry) async throws {
        // Sealing has fallen behind: hold the writer, so the batcher fills and receivers answer 429.
        while unsealed.withLock({ $0.totalBytes }) > configuration.maxUnsealedBytes {
            try await Task.sleep(for: .milliseconds(5))
        }
        let payload = WALPayload.encode(entry, pricing: pricing)
        metrics.walBytes.increment(by: payload.count + WALRecord.headerLength)
        _ = try await wal.append(payload, item: entry)
    }

    /// Deletes the WAL files whose records are all sealed and, with a forwarder, forwarded.
    @discardableResult
    func reclaimWAL() async throws -> Int {
        let sealed = sealedSequence.withLock { $0 }
        return try await wal.reclaim(upTo: configuration.forwardsRecords ? min(sealed, forwardedSequence) : sealed)
    }

    /// Stops sealing in the background, closes the WAL, and seals what is left, so a
    /// clean restart has nothing to replay.
    public func close() async throws {
        // Not cancellation: that would abort a seal's index commit half-way. The loop
        // notices the flag at its next tick; the final seal runs in its own task so a
        // cancelled caller cannot abort it either.
        stopping.withLock { $0 = true }
        if let task = sealer.withLock({ $0.take() }) { await task.value }
        try await Task { [self] in
            try await wal.close()
            try await seal(reason: "close")
        }.value
        try await sealThreads.shutdownGracefully()
        logger.info("store closed")
    }

    // MARK: - Sealing

    private func sealPeriodically() async {
        var failures = 0
        while !stopping.withLock({ $0 }) {
            do { try await Task.sleep(for: .milliseconds(100)) } catch { return }
            let due: String? = unsealed.withLock { unsealed in
                if unsealed.activeBytes >= configuration.segmentMaxBytes { return "size" }
                if let oldest = unsealed.oldest, oldest.duration(to: .now) >= configuration.segmentMaxAge { return "age" }
                return nil
            }
            do {
                try await wal.syncIfDue()
                if let due {
                    try await seal(reason: due)
                    failures = 0
                }
            } catch {
                failures += 1
                metrics.sealFailures.increment()
                logger.error("sealing a segment failed; the spans stay in the WAL and are retried",
                             metadata: ["error": "\(error)", "failures": "\(failures)"])
                try? await Task.sleep(for: .seconds(min(30, 1 << min(failures, 5))))
            }
        }
    }

    /// Seals every acknowledged record waiting in memory, now: one segment file per kind
    /// (spans, logs, metric points), recorded in the index in one transaction.
    /// `reason` (size, age, close, requested) is logged with the segments it wrote.
    public func seal(reason: String = "requested") async throws {
        guard let entries = unsealed.withLock({ $0.beginSeal() }) else { return }
        let started = ContinuousClock.now
        wal.rotate()
        var written: [(path: String, segment: BuiltSegment, bytesOnDisk: Int)] = []
        do {
            let spanBatches = entries.flatMap(\.item.spanBatches)
            let logBatches = entries.compactMap { if case .logs(let batch) = $0.item { batch } else { nil } }
            let metricBatches = entries.compactMap { if case .metrics(let batch) = $0.item { batch } else { nil } }
            let (batches, keys, resent) = recentSpans.withLock { $0.removingDuplicates(spanBatches) }
            if resent > 0 { metrics.resentSpans.increment(by: resent) }
            let sequences = entries.first!.sequence...entries.last!.sequence
            written = try await sealThreads.runIfActive { [self] in
                BackgroundPriority.lowerCallingThread()
                var built: [BuiltSegment] = []
                // A seal of re-sent spans only still writes its (empty) span segment: it moves the sealed position.
                if !spanBatches.isEmpty || (logBatches.isEmpty && metricBatches.isEmpty) {
                    let workers = BlockWorkers(pool: sealThreads, helpers: 1)
                    built.append(writer.build(batches, walSequences: sequences, workers: workers))
                }
                if !logBatches.isEmpty { built.append(logWriter.build(logBatches, walSequences: sequences)) }
                if !metricBatches.isEmpty {
                    var segment = metricWriter.build(metricBatches, walSequences: sequences)
                    segment.metricNames = MetricNameSummary.summarize(metricBatches)
                    built.append(segment)
                }
                var written: [(path: String, segment: BuiltSegment, bytesOnDisk: Int)] = []
                do {
                    for segment in built {
                        let (relativePath, size) = try writeSegmentFile(segment)
                        written.append((relativePath, segment, size))
                    }
                } catch {
                    for file in written { try? StoreDirectory.remove(configuration.dataDirectory + "/" + file.path) }
                    throw error
                }
                return written
            }
            unsealed.withLock { $0.beginCommit() }
            do {
                try await index.recordSegments(written, sourceOffsets: entries.flatMap(\.item.sourceOffsets))
            } catch {
                // Not in the index, so not visible: remove them, the next seal writes these records again.
                try? await threadPool.runIfActive { [configuration, written] in
                    for file in written { try StoreDirectory.remove(configuration.dataDirectory + "/" + file.path) }
                }
                throw error
            }
            unsealed.withLock { unsealed in
                unsealed.finishSeal()
                metrics.unsealedSpans.record(unsealed.spanCount)
            }
            recentSpans.withLock { $0.remember(keys) }
            sealedSequence.withLock { $0 = max($0, sequences.upperBound) }
            let reclaimed = try await reclaimWAL()
            for file in written {
                metrics.segmentsSealed.increment()
                metrics.segmentBytes.increment(by: file.bytesOnDisk)
                logger.info("sealed segment", metadata: [
                    "reason": "\(reason)", "wal_records": "\(entries.count)", "path": "\(file.path)", "kind": "\(file.segment.kind.name)", "rows": "\(file.segment.footer.rows)",
                    "blocks": "\(file.segment.footer.blocks.count)", "bytes": "\(file.bytesOnDisk)",
                ])
            }
            metrics.sealDuration.record(duration: started.duration(to: .now))
            if reclaimed > 0 { logger.debug("reclaimed WAL files", metadata: ["files": "\(reclaimed)"]) }
        } catch {
            unsealed.withLock { $0.abortSeal() }
            throw error
        }
    }

    /// Temp file, fsync, rename, directory fsync: a reader never sees a half-written segment.
    private func writeSegmentFile(_ built: BuiltSegment) throws -> (String, Int) {
        let name = SegmentNaming.newName(lastSequence: built.footer.lastWALSequence, kind: built.kind)
        return ("segments/" + name, try SegmentFiles.write(built.bytes, name: name, directory: configuration.segmentDirectory))
    }

    /// A compactor of this store's segments, sharing its index and open segment readers.
    public func compactor(failpoint: (@Sendable (CompactionStep) throws -> Void)? = nil,
                          beforeChanges: (@Sendable () async throws -> Void)? = nil) -> SegmentCompactor {
        SegmentCompactor(dataDirectory: configuration.dataDirectory, index: index, pricing: pricing, readers: readers,
                         blockRows: configuration.blockRows, logger: logger, failpoint: failpoint, beforeChanges: beforeChanges)
    }

    // MARK: - Reading

    /// Every stored span of `traceID`: from segments, and from the WAL's unsealed spans.
    public func trace(_ traceID: TraceID) async throws -> StoredTrace {
        // Unsealed spans first: a seal that commits between the two reads leaves its spans in
        // this snapshot (duplicates are removed below); the other order could see them in neither.
        let unsealedBatches = unsealed.withLock { $0.allBatches }
        let locations = try await index.locations(of: traceID)
        var trace = StoredTrace()
        if !locations.isEmpty {
            let dataDirectory = configuration.dataDirectory
            trace = try await threadPool.runIfActive { [self] in
                var trace = StoredTrace()
                for (path, block, state) in locations {
                    guard state == .active else {
                        trace.warnings.append("segment \(path.split(separator: "/").last ?? "") is \(state.rawValue); spans of this trace in its block \(block) cannot be read")
                        continue
                    }
                    do {
                        switch try readers.readFenced(dataDirectory + "/" + path, block: block, { try $0.batch(block: block, pricing: pricing) }) {
                        case .success(var batch):
                            batch.retain(batch.spans.traceIDs.map { $0 == traceID })
                            trace.batches.append(batch)
                        case .failure(let fenced):
                            trace.warnings.append(reportFenced(fenced))
                        }
                    } catch {
                        metrics.readErrors.increment()
                        logger.error("cannot read a segment block", metadata: ["error": "\(error)"])
                        trace.warnings.append(StoreError.clientMessage(of: error))
                    }
                }
                return trace
            }
        }
        for var batch in unsealedBatches {
            let keep = batch.spans.traceIDs.map { $0 == traceID }
            guard keep.contains(true) else { continue }
            batch.retain(keep)
            trace.batches.append(batch)
        }
        trace.removeDuplicateSpans()
        return trace
    }

    public func traces(_ query: TraceQuery) async throws -> [TraceSummaryRow] {
        try await index.summaries(query)
    }

    /// Spans acknowledged and not yet in a segment.
    public var unsealedSpanCount: Int { unsealed.withLock { $0.spanCount } }

    /// The memory the records not yet in a segment take: a bound on what their seals write.
    public var unsealedBytes: Int { unsealed.withLock { $0.totalBytes } }

    /// The WAL's files and bytes on disk, counted on the store's threads.
    /// Where this store is in each Kafka partition it consumed: the highest offset whose
    /// records are durable, sealed or still in the WAL. A receiver resumes after it.
    public func sourceOffsets() async throws -> [SourceOffset] {
        // Unsealed first: a seal finishing in between moves entries into the index, never past both reads.
        let pending = unsealed.withLock { ($0.sealing + $0.active).flatMap(\.item.sourceOffsets) }
        let sealed = try await index.sealedSourceOffsets()
        return SourceOffset.latest(sealed + pending)
    }

    public func walUsage() async throws -> (files: Int, bytes: Int) {
        try await wal.usage()
    }
}

/// The spans of one trace, as stored, and what could not be read.
public struct StoredTrace: Sendable {
    public var batches: [NormalizedBatch] = []
    /// Blocks that failed to read (corrupt, missing), named with file, block and column.
    public var warnings: [String] = []

    public init() {}

    public var spanCount: Int { batches.reduce(0) { $0 + $1.count } }

    /// A span read from a segment and from the unsealed spans during a seal counts once.
    mutating func removeDuplicateSpans() {
        var seen = Set<UInt64>()
        for index in batches.indices {
            let keep = batches[index].spans.spanIDs.map { seen.insert($0).inserted }
            if keep.contains(false) { batches[index].retain(keep) }
        }
        batches.removeAll { $0.count == 0 }
    }
}

/// Segment file names: creation time and last WAL record, so names sort by age, and the
/// kind for log and metric segments (`….logs.seg`, `….metrics.seg`) for whoever lists them.
enum SegmentNaming {
    static let temporaryPrefix = ".tmp-"

    /// Marks the files a compaction writes: recovery deletes one the index does not know.
    static let compactedMarker = "-c"

    static func isCompactionOutput(_ name: String) -> Bool {
        SegmentKind.allCases.contains { name.hasSuffix(compactedMarker + suffix($0)) }
    }

    static func suffix(_ kind: SegmentKind) -> String {
        switch kind {
        case .spans: ".seg"
        case .logs: ".logs.seg"
        case .metricPoints: ".metrics.seg"
        }
    }

    static func newName(lastSequence: UInt64, kind: SegmentKind = .spans, compacted: Bool = false) -> String {
        let now = UInt64(UnixTime.nowNanoseconds())
        return hex(now) + "-" + hex(lastSequence) + "-" + hex(UInt64.random(in: 0...UInt64(UInt32.max))).suffix(8)
            + (compacted ? compactedMarker : "") + suffix(kind)
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
    }
}

/// Open segment readers, so a trace lookup does not re-read footers.
package final class SegmentReaderCache: Sendable {
    private let readers = Mutex<[String: SegmentReader]>([:])
    private let capacity = 512
    /// The blocks of these files found unreadable, shared by every reader of the store.
    package let fence = BlockFence()
    /// Where a newly fenced block is logged, whichever reader (trace, SQL scan, job, merge) found it.
    private let logger: Logger
    /// The bucket of the segments whose local files were removed once uploaded.
    package let remote: RemoteSegments?

    package init(logger: Logger = Logger(label: "pyflare.store"), remote: RemoteSegments? = nil) {
        self.logger = logger
        self.remote = remote
    }

    /// The readers of a data directory opened by a command beside or instead of the server:
    /// with `remote`, its remote segments are read from the bucket (sharing the local cache).
    package static func offline(dataDirectory: String, remote: RemoteSegmentSettings?, logger: Logger) throws(StoreError) -> SegmentReaderCache {
        SegmentReaderCache(logger: logger, remote: try remote.map { (settings) throws(StoreError) in
            try RemoteSegments(settings: settings, dataDirectory: dataDirectory)
        })
    }

    /// The reader of the segment at `path`: its local file, or when that is gone and the store
    /// has a bucket, its object there (the index lists a remote segment by the same path).
    package func reader(_ path: String) throws(StoreError) -> SegmentReader {
        if let reader = readers.withLock({ $0[path] }) { return reader }
        let reader: SegmentReader
        do {
            reader = try SegmentReader(path: path)
        } catch let error where error.errno == ENOENT && remote != nil {
            reader = try remote!.reader(path: path)
        }
        readers.withLock { readers in
            if readers.count >= capacity { readers.removeAll(keepingCapacity: true) }
            readers[path] = reader
        }
        return reader
    }

    /// Closes the readers of files about to be deleted, so their space is given back.
    func evict(_ paths: [String]) {
        readers.withLock { readers in for path in paths { readers[path] = nil } }
        fence.forget(paths)
    }

    /// Reads block `block` of the segment at `path` with `read`; a corrupt block (or file) is
    /// fenced and its report returned instead, as is one fenced before. An I/O failure is
    /// not the block's fault and is thrown, so a later read may succeed.
    package func readFenced<T>(_ path: String, block: Int, _ read: (SegmentReader) throws -> T) throws(StoreError) -> Result<T, FencedBlock> {
        if let report = fence.fencedReport(path: path, block: block) { return .failure(FencedBlock(report: report, isNew: false)) }
        do {
            return .success(try read(try reader(path)))
        } catch let error as StoreError where error.code == .io {
            throw error
        } catch {
            let wholeFile = (try? reader(path)) == nil
            let report = fence.fence(path: path, block: wholeFile ? BlockFence.wholeSegment : block, because: error)
            logger.error("cannot read a segment block; it is fenced, later reads skip it", metadata: ["report": "\(report)"])
            return .failure(FencedBlock(report: report, isNew: true))
        }
    }
}

/// A block a read moved past: what to report of it, and whether this read found it.
package struct FencedBlock: Error {
    package var report: String
    var isNew: Bool
}

/// The store's counters and gauges.
struct StoreMetrics: Sendable {
    let walGroups = Counter(label: "pyflare_wal_group_commits_total")
    let walRecords = Counter(label: "pyflare_wal_records_total")
    let walBytes = Counter(label: "pyflare_wal_bytes_total")
    let unsealedSpans = Recorder(label: "pyflare_unsealed_spans", aggregate: false)
    let segmentsSealed = Counter(label: "pyflare_segments_sealed_total")
    let segmentBytes = Counter(label: "pyflare_segment_bytes_total")
    let sealFailures = Counter(label: "pyflare_seal_failures_total")
    let sealDuration = Timer(label: "pyflare_seal_duration_seconds")
    let readErrors = Counter(label: "pyflare_segment_read_errors_total")
    /// Spans received again (an exporter retry) and stored once.
    let resentSpans = Counter(label: "pyflare_spans_resent_total")
}
