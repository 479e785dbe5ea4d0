import Logging
import CoreMetrics
import NIOPosix
public import PyFlareModel
import PyFlareWire
import Synchronization
import PyFlareStore

/// The limits every statement runs under.
public struct SQLLimits: Sendable, Equatable {
    /// A statement still running after this is stopped with an error.
    public var timeout: Duration
    /// A statement returning more rows fails (a request's `limit` truncates instead).
    public var maxRows: Int

    /// Ad-hoc statements that may wait for a free SQL thread; more are answered 429 at once.
    public var maxQueued: Int

    public init(timeout: Duration = .seconds(30), maxRows: Int = 100_000, maxQueued: Int = 16) {
        self.timeout = timeout
        self.maxRows = maxRows
        self.maxQueued = maxQueued
    }
}

/// Runs read-only SQL over a data directory: the index tables and the `spans`, `logs` and
/// `metric_points` virtual tables over the segments and the unsealed records
/// (`docs/sql.md`). Statements run on the thread pool, each on a connection of its own.
public final class SQLEngine: Sendable {
    public let limits: SQLLimits
    private let indexPath: String
    private let dataDirectory: String
    private let pricing: PricingTable
    private let readers: SegmentReaderCache
    private let unsealed: @Sendable () throws(SQLError) -> [Unsealed.Entry]
    /// The threads and queue this engine's statements run on.
    public let lane: SQLLane
    private let idle = Mutex<[SQLConnection]>([])
    private let maxIdleConnections = 4
    private let metrics = SQLMetrics()

    init(dataDirectory: String, pricing: PricingTable, readers: SegmentReaderCache, limits: SQLLimits,
         lane: SQLLane, unsealed: @escaping @Sendable () throws(SQLError) -> [Unsealed.Entry]) {
        self.dataDirectory = dataDirectory
        indexPath = dataDirectory + "/index.db"
        self.pricing = pricing
        self.readers = readers
        self.limits = limits
        self.lane = lane
        self.unsealed = unsealed
    }

    /// An engine over a data directory another process (a running server) may be writing,
    /// or nobody: the unsealed records come from the WAL files, read without changing them.
    public static func offline(dataDirectory: String, pricing: PricingTable, limits: SQLLimits,
                               lane: SQLLane = .adHoc, remote: RemoteSegmentSettings? = nil) throws(SQLError) -> SQLEngine {
        guard StoreDirectory.exists(dataDirectory + "/index.db") else {
            throw SQLError(.unavailable, "\(dataDirectory) holds no PyFlare index (index.db); is it the server's data directory?")
        }
        let walDirectory = dataDirectory + "/wal"
        let readers: SegmentReaderCache
        do {
            readers = try .offline(dataDirectory: dataDirectory, remote: remote, logger: Logger(label: "pyflare.sql"))
        } catch {
            throw SQLError(.unavailable, "opening the remote segments' cache: \(error.clientMessage)")
        }
        return SQLEngine(dataDirectory: dataDirectory, pricing: pricing, readers: readers, limits: limits,
                         lane: lane) { () throws(SQLError) in
            do {
                return try WriteAheadLog<WALEntry>.read(directory: walDirectory, pricing: pricing)
            } catch {
                throw SQLError(.unavailable, "reading the WAL: \(error)")
            }
        }
    }

    /// Runs `sql` with `parameters` bound to its `?` placeholders, in order.
    public func run(_ sql: String, parameters: [SQLValue] = [], limit: Int? = nil) async throws(SQLError) -> SQLResult {
        try await run(sql, parameters: .positional(parameters), limit: limit, limits: limits)
    }

    /// Runs `sql` under `limits` (a scheduled job's, say) instead of the engine's.
    ///
    /// The time limit counts from now, waiting for a free thread included. Cancelling the
    /// calling task (a client that went away) stops the statement where it stands.
    public func run(_ sql: String, parameters: SQLParameters, limit: Int? = nil, limits: SQLLimits) async throws(SQLError) -> SQLResult {
        let deadline = ContinuousClock.now.advanced(by: limits.timeout)
        let interrupt = StatementInterrupt()
        let outcome: Result<SQLResult, SQLError>
        do {
            outcome = try await lane.run(deadline: deadline, interrupt: interrupt) { [self] in
                // The unsealed snapshot comes before the statement's read transaction begins:
                // a seal committing in between leaves its records here and in the catalog, and
                // the catalog's sealed position drops them here, never the other way round.
                Result { () throws(SQLError) in
                    let unsealed = try self.unsealed()
                    let connection = try checkOut()
                    defer { checkIn(connection) }
                    return try connection.run(sql, parameters: parameters, deadline: deadline, interrupt: interrupt,
                                              maxRows: limits.maxRows, limit: limit.map { min($0, limits.maxRows) }, unsealed: unsealed)
                }
            }
        } catch {
            outcome = .failure(error)
        }
        switch outcome {
        case .success(let result):
            metrics.record(result)
            return result
        case .failure(let error):
            metrics.record(error)
            throw error
        }
    }

    /// The earliest and latest time (span start, log or metric point time) of each
    /// acknowledged record of `kind` not known to be sealed, with its WAL sequence. Offline,
    /// the WAL files may still hold sealed records: drop those at or below the index's sealed
    /// position, read after this call.
    public func unsealedTimeRanges(of kind: SegmentKind) async throws(SQLError) -> [(sequence: UInt64, times: ClosedRange<Int64>)] {
        try unsealed().compactMap { entry in
            var lower = Int64.max, upper = Int64.min
            func include(_ times: some Sequence<UInt64>) {
                for time in times {
                    let clamped = Int64(clamping: time)
                    lower = min(lower, clamped)
                    upper = max(upper, clamped)
                }
            }
            switch (kind, entry.item) {
            case (.spans, _): for batch in entry.item.spanBatches { include(batch.spans.startTimes) }
            case (.logs, .logs(let batch)): include(batch.times)
            case (.metricPoints, .metrics(let batch)): include(batch.times)
            default: break
            }
            return lower <= upper ? (entry.sequence, lower...upper) : nil
        }
    }

    private func checkOut() throws(SQLError) -> SQLConnection {
        if let connection = idle.withLock({ $0.popLast() }) { return connection }
        let context = SQLScanContext(dataDirectory: dataDirectory, readers: readers, pricing: pricing)
        return try SQLConnection(indexPath: indexPath, context: context)
    }

    private func checkIn(_ connection: SQLConnection) {
        idle.withLock { connections in
            if connections.count < maxIdleConnections { connections.append(connection) }
        }
    }
}

/// Counters of SQL statements and what they read.
private struct SQLMetrics: Sendable {
    let blocksRead = Counter(label: "pyflare_sql_blocks_read_total")
    let blocksSkipped = Counter(label: "pyflare_sql_blocks_skipped_total")
    let rowsScanned = Counter(label: "pyflare_sql_rows_scanned_total")
    let duration = Timer(label: "pyflare_sql_duration_seconds")

    func record(_ result: SQLResult) {
        Counter(label: "pyflare_sql_statements_total", dimensions: [("outcome", "ok")]).increment()
        blocksRead.increment(by: result.scan.blocks)
        blocksSkipped.increment(by: result.scan.blocksSkipped)
        rowsScanned.increment(by: result.scan.rows)
        duration.recordSeconds(result.elapsedSeconds)
    }

    func record(_ error: SQLError) {
        Counter(label: "pyflare_sql_statements_total", dimensions: [("outcome", error.kind.rawValue)]).increment()
    }
}

extension SpanStore {
    /// SQL over this store: unsealed records come from its memory.
    public func sqlEngine(limits: SQLLimits) -> SQLEngine {
        sqlEngine(limits: limits, lane: .adHoc)
    }

    /// SQL over this store on `lane`: the server's own statements (jobs, analysis routes) run
    /// on ``SQLLane/internalWork``, users' on ``SQLLane/adHoc``.
    public func sqlEngine(limits: SQLLimits, lane: SQLLane) -> SQLEngine {
        SQLEngine(dataDirectory: configuration.dataDirectory, pricing: pricing, readers: readers, limits: limits,
                  lane: lane) { [unsealed] in unsealed.withLock { $0.entries } }
    }
}
