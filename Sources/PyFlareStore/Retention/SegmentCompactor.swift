#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOPosix
public import PyFlareModel
import PyFlareWire

/// The steps of a compaction swap at which a test can stop it as a crash would.
public enum CompactionStep: String, Sendable, CaseIterable {
    /// The new segment is written and synced under its temporary name.
    case beforeRename = "before_rename"
    /// The new segment has its final name; the index does not know it yet.
    case afterRename = "after_rename"
    /// Just before the index transaction that swaps the segments.
    case beforeCommit = "before_commit"
    /// The index names the new segment; the old files are still on disk.
    case afterCommit = "after_commit"
}

/// Thrown by a failpoint to stop a compaction where it stands, leaving files and index as a
/// crash would (no clean-up runs).
public struct SimulatedCrash: Error, Sendable {
    public let step: CompactionStep
    public init(at step: CompactionStep) { self.step = step }
}

/// Runs compaction plans: deletes expired segments, rewrites those straddling the cut-off
/// and merges small ones, each swap crash-safe.
///
/// A swap writes the new segment under a temporary name, syncs it, renames it (a name
/// ending in `-c.seg`, so recovery knows an unindexed one for an unfinished compaction and
/// deletes it), syncs the directory, and only then replaces the old segments in the index
/// in one transaction, which also lists the old files in `segment_deletions`. The files
/// are deleted after that commit and a grace period; recovery deletes any left listed.
/// Queries read the catalog of their own snapshot, so they see the old segments or the
/// new one, never both or neither.
///
/// The reading and encoding run on a thread of their own at a lower CPU priority (nice
/// 10), so seals and queries go first; `maxBytesPerSecond` bounds the I/O.
public final class SegmentCompactor: Sendable {
    let dataDirectory: String
    let index: IndexDatabase
    let pricing: PricingTable
    let readers: SegmentReaderCache
    let blockRows: Int
    let logger: Logger
    /// Called at each step of a swap; a test throws ``SimulatedCrash`` from it.
    let failpoint: (@Sendable (CompactionStep) throws -> Void)?
    /// Runs before a compaction changes anything; when it throws, nothing is merged or
    /// deleted. The Parquet export catches up here, so no segment leaves unexported.
    let beforeChanges: (@Sendable () async throws -> Void)?

    /// One thread, niced, shared by every compactor of the process.
    package static let lowPriorityThreads: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        return pool
    }()

    init(dataDirectory: String, index: IndexDatabase, pricing: PricingTable, readers: SegmentReaderCache, blockRows: Int,
         logger: Logger, failpoint: (@Sendable (CompactionStep) throws -> Void)? = nil,
         beforeChanges: (@Sendable () async throws -> Void)? = nil) {
        self.dataDirectory = dataDirectory
        self.index = index
        self.pricing = pricing
        self.readers = readers
        self.blockRows = blockRows
        self.logger = logger
        self.failpoint = failpoint
        self.beforeChanges = beforeChanges
    }

    /// A compactor of a data directory without the store open (`pyflare compact` beside or instead of a server).
    public static func offline(dataDirectory: String, pricing: PricingTable, blockRows: Int = 1024, logger: Logger,
                               remote: RemoteSegmentSettings? = nil,
                               failpoint: (@Sendable (CompactionStep) throws -> Void)? = nil,
                               beforeChanges: (@Sendable () async throws -> Void)? = nil) throws(StoreError) -> SegmentCompactor {
        SegmentCompactor(dataDirectory: dataDirectory, index: try IndexDatabase(path: dataDirectory + "/index.db"), pricing: pricing,
                         readers: try .offline(dataDirectory: dataDirectory, remote: remote, logger: logger), blockRows: blockRows, logger: logger, failpoint: failpoint,
                         beforeChanges: beforeChanges)
    }

    /// Plans and, unless `dryRun`, carries out a compaction under `policy`. Stops between
    /// actions when the task is cancelled (shutdown) or `canWrite` turns false (low disk
    /// space: only deletions go on), and says so in the report.
    public func run(policy: RetentionPolicy, settings: CompactionSettings, now: Int64, dryRun: Bool,
                    canWrite: @Sendable () -> Bool = { true }) async throws -> CompactionReport {
        var report = CompactionReport(dryRun: dryRun)
        if !dryRun, let beforeChanges { try await beforeChanges() }
        if !dryRun { try await index.resetExpiries(policyHash: Self.hash(policy.json)) }
        let catalog = try await index.catalog()
        let actions = CompactionPlanner.plan(catalog, policy: policy, settings: settings, now: now, canWrite: canWrite())
        guard !dryRun else {
            report.actions = actions
            report.pendingDeletionBytes = try await index.pendingDeletions().reduce(0) { $0 + $1.bytes }
            return report
        }
        let clock = ContinuousClock(), started = clock.now
        var bytesMoved = 0
        for var action in actions {
            if Task.isCancelled {
                report.stoppedEarly = "shutdown"
                break
            }
            if action.operation != .delete, !canWrite() {
                report.stoppedEarly = "low disk space: only deletions run"
                continue
            }
            do {
                try await perform(&action, policy: policy, now: now)
            } catch let error as StoreError where error.code == .corrupt {
                // An unreadable input block is fenced by the read; the segments stay as they
                // are (readers move past the block) and the rest of the plan goes on.
                action.skipped = StoreError.clientMessage(of: error)
                logger.error("compaction left segments with an unreadable block", metadata: ["error": "\(error)"])
            }
            report.actions.append(action)
            bytesMoved += action.bytesIn + (action.bytesOut ?? 0)
            if settings.maxBytesPerSecond > 0 {
                let due = Duration.seconds(Double(bytesMoved) / Double(settings.maxBytesPerSecond))
                let elapsed = started.duration(to: clock.now)
                if due > elapsed { try? await Task.sleep(for: due - elapsed) }
            }
        }
        // Files replaced by earlier runs, and by this one when there is no grace period.
        report.segmentBytesReclaimed = try await purgeDeletions(grace: settings.deleteGrace, now: UnixTime.nowNanoseconds())
        report.pendingDeletionBytes = try await index.pendingDeletions().reduce(0) { $0 + $1.bytes }
        return report
    }

    /// Gives the index's free pages back to the file system; returns the bytes it shrank by.
    public func vacuumIndex() async throws(StoreError) -> Int {
        try await index.vacuum()
    }

    /// Segment counts, rows and bytes by kind, and the bytes of the index and of replaced files not yet deleted.
    public func storageSummary() async throws(StoreError) -> StorageSummary {
        let catalog = try await index.catalog()
        var summary = StorageSummary()
        for segment in catalog {
            summary.kinds[segment.kind, default: .init()].add(segment)
        }
        summary.indexBytes = index.bytesOnDisk
        summary.pendingDeletionBytes = try await index.pendingDeletions().reduce(0) { $0 + $1.bytes }
        summary.retentionFloors = try await index.retentionFloors()
        return summary
    }

    /// Deletes the replaced segment files whose grace period is over; returns their bytes.
    /// Recovery calls it with no grace: no statement is running then.
    @discardableResult
    func purgeDeletions(grace: Duration, now: Int64) async throws(StoreError) -> Int {
        let graceNanoseconds = grace.inNanoseconds
        var due = try await index.pendingDeletions().filter { $0.committed + graceNanoseconds <= now }
        guard !due.isEmpty else { return 0 }
        let dataDirectory = dataDirectory
        // Objects first: a crash after this leaves the rows, and deleting an object twice is harmless.
        if due.contains(where: { $0.remoteKey != nil }) {
            if let remote = readers.remote {
                for file in due where file.remoteKey != nil { try await remote.delete(file.path) }
            } else {
                logger.warning("remote segments wait for deletion, but storage.remote is not configured", metadata: [
                    "paths": "\(due.filter { $0.remoteKey != nil }.map(\.path).joined(separator: ", "))",
                ])
                due.removeAll { $0.remoteKey != nil }
                guard !due.isEmpty else { return 0 }
            }
        }
        let files = due
        readers.evict(files.map { dataDirectory + "/" + $0.path })
        do {
            try await Self.lowPriorityThreads.runIfActive {
                for file in files { try StoreDirectory.remove(dataDirectory + "/" + file.path) }
                try StoreDirectory.sync(dataDirectory + "/segments")
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.io, "deleting replaced segments: \(error)", path: dataDirectory + "/segments")
        }
        try await index.forgetDeletions(due.map(\.path))
        return due.reduce(0) { $0 + $1.bytes }
    }

    private func perform(_ action: inout CompactionAction, policy: RetentionPolicy, now: Int64) async throws {
        let inputs = action.inputs
        if action.operation == .delete {
            action.rowsExpired = action.rowsIn
            try await index.swap(inputs, for: [], dropped: action.rowsIn, droppedMetricPoints: [:],
                                 floor: (action.kind, inputs.map(\.maxTime).max()! &+ 1))
            logger.info("deleted segments", metadata: [
                "reason": "\(action.reason)", "paths": "\(inputs.map(\.path).joined(separator: ", "))", "rows": "\(action.rowsIn)",
            ])
            return
        }
        let (dataDirectory, pricing, blockRows, readers) = (dataDirectory, pricing, blockRows, readers)
        let kind = action.kind
        let rebuilt = try await Self.lowPriorityThreads.runIfActive {
            BackgroundPriority.lowerCallingThread()
            return try CompactionRebuild.run(inputs.map { dataDirectory + "/" + $0.path }, kind: kind, readers: readers, pricing: pricing,
                                             blockRows: blockRows, policy: policy, now: now)
        }
        action.rowsExpired = rebuilt.dropped
        if action.operation == .rewrite, rebuilt.dropped == 0 {
            // Nothing expired after all (overrides keep these rows longer): remember when something will.
            try await index.setExpiry(rebuilt.nextExpiry, segment: inputs[0].id)
            action.skipped = "no expired rows"
            return
        }
        let floor = rebuilt.dropped > 0 ? (kind, rebuilt.lastDroppedTime &+ 1) : nil
        guard let segment = rebuilt.segment else {
            // Every row expired.
            try await index.swap(inputs, for: [], dropped: rebuilt.dropped, droppedMetricPoints: rebuilt.droppedMetricPoints, floor: floor)
            action.rowsOut = 0
            return
        }
        let name = SegmentNaming.newName(lastSequence: segment.footer.lastWALSequence, kind: kind, compacted: true)
        let failpoint = failpoint
        let size = try await Self.lowPriorityThreads.runIfActive {
            try SegmentFiles.write(segment.bytes, name: name, directory: dataDirectory + "/segments") { () throws in
                try failpoint?(.beforeRename)
            }
        }
        let relativePath = "segments/" + name
        do {
            try failpoint?(.afterRename)
            try Task.checkCancellation()
            try failpoint?(.beforeCommit)
            try await index.swap(inputs, for: [(relativePath, segment, size, rebuilt.nextExpiry)], dropped: rebuilt.dropped,
                                 droppedMetricPoints: rebuilt.droppedMetricPoints, floor: floor)
        } catch let crash as SimulatedCrash {
            throw crash
        } catch {
            // Not in the index: nobody reads it; the old segments stay as they were.
            try? StoreDirectory.remove(dataDirectory + "/" + relativePath)
            throw error
        }
        try failpoint?(.afterCommit)
        action.output = relativePath
        action.rowsOut = segment.footer.rows
        action.bytesOut = size
        logger.info("compacted segments", metadata: [
            "operation": "\(action.operation.rawValue)", "inputs": "\(inputs.count)", "output": "\(relativePath)",
            "rows_in": "\(action.rowsIn)", "rows_out": "\(segment.footer.rows)", "rows_expired": "\(rebuilt.dropped)",
            "bytes_in": "\(action.bytesIn)", "bytes_out": "\(size)",
        ])
    }

    /// FNV-1a of the policy's JSON: tells a changed policy from the one expiries were computed under.
    static func hash(_ bytes: [UInt8]) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return Int64(bitPattern: hash)
    }
}

/// What the store holds, for `GET /api/v1/retention`.
public struct StorageSummary: Sendable {
    public struct Kind: Sendable {
        public var segments = 0
        public var rows = 0
        public var bytes = 0
        public var oldest: Int64?
        public var newest: Int64?
        /// Of those, the segments in the bucket (`storage.remote`) and their bytes.
        public var remoteSegments = 0
        public var remoteBytes = 0

        public init() {}

        mutating func add(_ segment: CatalogSegment) {
            segments += 1
            rows += segment.rows
            bytes += segment.bytesOnDisk
            if segment.remoteKey != nil {
                remoteSegments += 1
                remoteBytes += segment.bytesOnDisk
            }
            oldest = min(oldest ?? .max, segment.minTime)
            newest = max(newest ?? .min, segment.maxTime)
        }
    }

    public var kinds: [SegmentKind: Kind] = [:]
    public var indexBytes = 0
    public var pendingDeletionBytes = 0
    /// By kind: records older than this may have been deleted by retention (none yet: absent).
    public var retentionFloors: [SegmentKind: Int64] = [:]

    public var segmentBytes: Int { kinds.values.reduce(0) { $0 + $1.bytes } }
}

/// Reads segments of one kind, drops their expired rows and encodes the rest as one segment.
enum CompactionRebuild {
    struct Result: Sendable {
        var segment: BuiltSegment?
        var dropped = 0
        var lastDroppedTime: Int64 = .min
        /// When the first kept row expires; nil when none does.
        var nextExpiry: Int64?
        var droppedMetricPoints: [String: Int] = [:]
    }

    static func run(_ paths: [String], kind: SegmentKind, readers: SegmentReaderCache, pricing: PricingTable, blockRows: Int,
                    policy: RetentionPolicy, now: Int64) throws(StoreError) -> Result {
        var expiry = RowExpiry(policy: policy, kind: kind, now: now)
        var result = Result()
        var firstWAL = UInt64.max, lastWAL = UInt64.min
        var masks: [[Bool]] = []
        var spanBatches: [NormalizedBatch] = [], logBatches: [LogBatch] = [], metricBatches: [MetricBatch] = []
        for path in paths {
            let reader = try readers.reader(path)
            firstWAL = min(firstWAL, reader.footer.firstWALSequence)
            lastWAL = max(lastWAL, reader.footer.lastWALSequence)
            for block in reader.footer.blocks.indices {
                // A merge must not drop rows silently: an unreadable block (fenced by the
                // read) stops this action.
                func read<Batch>(_ body: (SegmentReader) throws -> Batch) throws(StoreError) -> Batch {
                    switch try readers.readFenced(path, block: block, body) {
                    case .success(let batch): return batch
                    case .failure(let fenced): throw StoreError(.corrupt, fenced.report, path: path)
                    }
                }
                switch kind {
                case .spans:
                    let batch = try read { try $0.batch(block: block, pricing: pricing) }
                    masks.append((0..<batch.count).map { row in
                        expiry.keep(time: batch.spans.startTimes[row],
                                    service: { batch.spans.string(batch.columns.service[row]) },
                                    environment: { batch.columns.environment[row].isEmpty ? nil : batch.spans.string(batch.columns.environment[row]) })
                    })
                    spanBatches.append(batch)
                case .logs:
                    let batch = try read { try $0.logBatch(block: block) }
                    let resources = ResourceNames(batch)
                    masks.append((0..<batch.count).map { row in
                        let resource = Int(batch.scopes.resourceIndices[Int(batch.scopeIndices[row])])
                        return expiry.keep(time: batch.recordTime(row), service: { resources.service(resource) },
                                           environment: { resources.environment(resource) })
                    })
                    logBatches.append(batch)
                case .metricPoints:
                    let batch = try read { try $0.metricBatch(block: block) }
                    let resources = ResourceNames(batch)
                    masks.append((0..<batch.count).map { row in
                        let metric = batch.metric(ofPoint: row)
                        let resource = Int(batch.scopes.resourceIndices[Int(batch.metrics.scopeIndices[metric])])
                        let keep = expiry.keep(time: batch.times[row], service: { resources.service(resource) },
                                               environment: { resources.environment(resource) })
                        if !keep { result.droppedMetricPoints[batch.string(batch.metrics.names[metric]), default: 0] += 1 }
                        return keep
                    })
                    metricBatches.append(batch)
                }
            }
        }
        result.dropped = expiry.dropped
        result.lastDroppedTime = expiry.lastDroppedTime
        result.nextExpiry = expiry.nextExpiry
        let kept = masks.reduce(0) { $0 + $1.filter { $0 }.count }
        guard kept > 0 else { return result }
        let sequences = firstWAL <= lastWAL ? firstWAL...lastWAL : nil
        // Always masks (all set when nothing expired): the writer then skips the trace summaries a seal needs.
        let keeping = masks
        switch kind {
        case .spans: result.segment = SegmentWriter(blockRows: blockRows, pricing: pricing).build(spanBatches, walSequences: sequences, keeping: keeping)
        case .logs: result.segment = LogSegmentWriter(blockRows: blockRows).build(logBatches, walSequences: sequences, keeping: keeping)
        case .metricPoints: result.segment = MetricSegmentWriter(blockRows: blockRows).build(metricBatches, walSequences: sequences, keeping: keeping)
        }
        return result
    }
}

/// Decides row by row whether a record outlived its age, remembering the ages of the
/// service and environment pairs met.
struct RowExpiry {
    let policy: RetentionPolicy
    let kind: SegmentKind
    let now: Int64
    private var ages: [String: Int64] = [:]
    private(set) var dropped = 0
    private(set) var lastDroppedTime = Int64.min
    private(set) var nextExpiry: Int64?

    init(policy: RetentionPolicy, kind: SegmentKind, now: Int64) {
        self.policy = policy
        self.kind = kind
        self.now = now
    }

    /// Whether the record of `time` is kept; `service` and `environment` are asked only when overrides exist.
    mutating func keep(time unsignedTime: UInt64, service: () -> String, environment: () -> String?) -> Bool {
        let time = Int64(bitPattern: unsignedTime)
        let age: Int64
        if policy.overrides.isEmpty {
            age = policy.baseAge(kind)
        } else {
            let service = service(), environment = environment()
            let key = service + "\u{1F}" + (environment ?? "\u{0}")
            if let known = ages[key] {
                age = known
            } else {
                age = policy.age(kind, service: service, environment: environment)
                ages[key] = age
            }
        }
        guard age > 0 else { return true }
        if time < now - age {
            dropped += 1
            lastDroppedTime = max(lastDroppedTime, time)
            return false
        }
        // A row is dropped once `now - age` passes its time, so one nanosecond after `time + age`.
        nextExpiry = min(nextExpiry ?? .max, time &+ age &+ 1)
        return true
    }
}

/// Each resource's `service.name` and environment in a log or metric batch.
struct ResourceNames {
    private let services: [String?]
    private let environments: [String?]

    init(_ batch: some OTLPBatch) {
        services = batch.serviceNameRefs().map { $0.isEmpty ? nil : batch.string($0) }
        environments = batch.resourceStringRefs(NormalizedKeys.environment).map { $0.isEmpty ? nil : batch.string($0) }
    }

    func service(_ resource: Int) -> String { services[resource] ?? "" }
    func environment(_ resource: Int) -> String? { environments[resource] }
}

/// Writing a segment file so a reader never sees half of it.
enum SegmentFiles {
    /// Temp file, fsync, rename, directory fsync; returns the file's size. `beforeRename`
    /// runs once the temporary file is durable.
    static func write(_ bytes: [UInt8], name: String, directory: String,
                      beforeRename: () throws -> Void = {}) throws -> Int {
        let temporary = directory + "/" + SegmentNaming.temporaryPrefix + name
        do {
            let file = try StoreFile(path: temporary, writable: true, truncate: true)
            try file.write(bytes, at: 0)
            try file.sync()
            try beforeRename()
            try StoreDirectory.rename(temporary, to: directory + "/" + name)
            try StoreDirectory.sync(directory)
        } catch let crash as SimulatedCrash {
            throw crash
        } catch {
            try? StoreDirectory.remove(temporary)
            throw error
        }
        return bytes.count
    }
}
