import Foundation
import Logging
import NIOPosix
import PyFlareModel
import Synchronization

/// When the WAL forces its writes to the device, and so what a crash can cost.
public enum WALSyncMode: String, Sendable, CaseIterable {
    /// fsync before every acknowledgement (shared by the requests of one group commit):
    /// nothing acknowledged is lost, even on power loss.
    case always
    /// fsync at most once per interval: a process crash loses nothing (the data is in the
    /// page cache), a power loss or kernel crash loses up to one interval of acknowledged spans.
    case interval
    /// Never fsync (the OS writes back in its own time, typically within 30 s): a process
    /// crash loses nothing, a power loss loses what the OS had not written.
    case never
}

/// The write-ahead log: numbered records in `wal/<first sequence>.wal` files.
///
/// Appends are group-committed: while one group is written and synced, new records
/// gather, and the next group takes all of them, so concurrent requests share one
/// fsync. All file work runs on NIO's blocking thread pool.
package final class WriteAheadLog<Item: Sendable>: Sendable {
    struct Configuration: Sendable {
        var directory: String
        var syncMode: WALSyncMode
        var syncInterval: Duration
        /// A new file starts once the active one passes this size (and at every seal).
        var maxFileBytes: Int
    }

    let configuration: Configuration
    private let threadPool: NIOThreadPool
    /// Called on the flusher, in sequence order, once a group is durable and before its writers resume.
    private let onDurable: @Sendable ([(sequence: UInt64, item: Item)]) -> Void
    private let state: Mutex<State>
    private let file: Mutex<ActiveFile>

    private struct Waiter {
        var continuation: CheckedContinuation<UInt64, any Error>
        var sequence: UInt64
        var item: Item
    }

    private struct State {
        var nextSequence: UInt64
        var pending: [UInt8] = []
        var waiters: [Waiter] = []
        var flushing = false
        var failure: StoreError?
        var closed = false
        var rotateRequested = false
    }

    private struct ActiveFile {
        var handle: StoreFile?
        var size = 0
        var lastSync = ContinuousClock.now
        var unsynced = false
    }

    init(configuration: Configuration, nextSequence: UInt64, threadPool: NIOThreadPool = .singleton,
         onDurable: @escaping @Sendable ([(sequence: UInt64, item: Item)]) -> Void) {
        self.configuration = configuration
        self.threadPool = threadPool
        self.onDurable = onDurable
        state = Mutex(State(nextSequence: max(1, nextSequence)))
        file = Mutex(ActiveFile())
    }

    /// Appends a record and returns its sequence number once it is durable (per the sync mode).
    func append(_ payload: [UInt8], item: Item) async throws -> UInt64 {
        try await withCheckedThrowingContinuation { continuation in
            let outcome = state.withLock { state -> Result<Bool, StoreError> in
                if let failure = state.failure { return .failure(failure) }
                if state.closed { return .failure(StoreError(.closed, "the WAL is closed", path: configuration.directory)) }
                guard payload.count <= WALRecord.maxPayloadLength else {
                    return .failure(StoreError(.io, "a WAL record of \(payload.count) bytes exceeds the \(WALRecord.maxPayloadLength)-byte limit",
                                               path: configuration.directory))
                }
                let sequence = state.nextSequence
                state.nextSequence += 1
                WALRecord.frame(sequence: sequence, payload: payload, into: &state.pending)
                state.waiters.append(Waiter(continuation: continuation, sequence: sequence, item: item))
                guard !state.flushing else { return .success(false) }
                state.flushing = true
                return .success(true)
            }
            switch outcome {
            case .failure(let error): continuation.resume(throwing: error)
            case .success(true): Task { await self.flushGroups() }
            case .success(false): break
            }
        }
    }

    /// Writes gathered groups until none is left.
    private func flushGroups() async {
        while true {
            let (bytes, waiters, rotate) = state.withLock { state -> ([UInt8], [Waiter], Bool) in
                guard !state.waiters.isEmpty else {
                    state.flushing = false
                    return ([], [], false)
                }
                defer {
                    state.pending = []
                    state.waiters = []
                    state.rotateRequested = false
                }
                return (state.pending, state.waiters, state.rotateRequested)
            }
            guard let firstSequence = waiters.first?.sequence else { return }
            do {
                try await threadPool.runIfActive { [self] in
                    try file.withLock { file throws(StoreError) in try write(bytes, firstSequence: firstSequence, rotate: rotate, to: &file) }
                }
                onDurable(waiters.map { ($0.sequence, $0.item) })
                for waiter in waiters { waiter.continuation.resume(returning: waiter.sequence) }
            } catch {
                let failure = error as? StoreError ?? StoreError(.io, "\(error)", path: configuration.directory)
                for waiter in waiters { waiter.continuation.resume(throwing: failure) }
            }
        }
    }

    private func write(_ bytes: [UInt8], firstSequence: UInt64, rotate: Bool, to file: inout ActiveFile) throws(StoreError) {
        if file.handle == nil || rotate || file.size >= configuration.maxFileBytes {
            try startFile(firstSequence: firstSequence, in: &file)
        }
        guard let handle = file.handle else { return }
        do {
            try handle.write(bytes, at: file.size)
        } catch {
            // Leave no partial record behind the good ones: later records must stay readable.
            do {
                try handle.truncate(to: file.size)
            } catch let truncation {
                state.withLock { $0.failure = truncation }
            }
            throw error
        }
        file.size += bytes.count
        file.unsynced = true
        switch configuration.syncMode {
        case .always: try sync(&file)
        case .interval: try syncIfDue(&file)
        case .never: break
        }
    }

    private func syncIfDue(_ file: inout ActiveFile) throws(StoreError) {
        if file.lastSync.duration(to: .now) >= configuration.syncInterval { try sync(&file) }
    }

    private func sync(_ file: inout ActiveFile) throws(StoreError) {
        guard file.unsynced, let handle = file.handle else { return }
        try handle.sync()
        file.unsynced = false
        file.lastSync = .now
    }

    private func startFile(firstSequence: UInt64, in file: inout ActiveFile) throws(StoreError) {
        if let previous = file.handle, file.unsynced { try previous.sync() }
        let path = Self.path(directory: configuration.directory, firstSequence: firstSequence)
        file.handle = try StoreFile(path: path, writable: true, truncate: true)
        file.size = 0
        file.unsynced = false
        try StoreDirectory.sync(configuration.directory)
    }

    /// The next group starts a new file, so the files before it can be deleted once sealed.
    func rotate() {
        state.withLock { $0.rotateRequested = true }
    }

    /// For `interval` mode: syncs if the interval has passed since the last sync.
    func syncIfDue() async throws {
        guard configuration.syncMode == .interval else { return }
        try await threadPool.runIfActive { [self] in
            try file.withLock { file throws(StoreError) in
                try syncIfDue(&file)
            }
        }
    }

    /// Deletes the files whose records all have sequence numbers up to `sealed`.
    func reclaim(upTo sealed: UInt64) async throws -> Int {
        try await threadPool.runIfActive { [self] in
            let files = Self.files(in: configuration.directory)
            var deleted = 0
            for (file, next) in zip(files, files.dropFirst()) where next.firstSequence - 1 <= sealed {
                try StoreDirectory.remove(file.path)
                deleted += 1
            }
            return deleted
        }
    }

    /// The WAL files on disk and their bytes: what a restart would replay (at most).
    func usage() async throws -> (files: Int, bytes: Int) {
        try await threadPool.runIfActive { [self] in
            let files = Self.files(in: configuration.directory)
            let bytes = files.reduce(0) { total, file in
                var info = stat()
                return total + (stat(file.path, &info) == 0 ? Int(info.st_size) : 0)
            }
            return (files.count, bytes)
        }
    }

    /// Refuses new appends and syncs what was written.
    func close() async throws {
        state.withLock { $0.closed = true }
        try await threadPool.runIfActive { [self] in
            try file.withLock { file throws(StoreError) in
                if let handle = file.handle, file.unsynced { try handle.sync() }
                file.unsynced = false
            }
        }
    }

    // MARK: - Files and recovery

    static func path(directory: String, firstSequence: UInt64) -> String {
        let digits = String(firstSequence)
        return directory + "/" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".wal"
    }

    /// The WAL files in `directory`, oldest first.
    static func files(in directory: String) -> [(path: String, firstSequence: UInt64)] {
        StoreDirectory.names(directory).compactMap { name in
            guard name.hasSuffix(".wal"), let first = UInt64(name.dropLast(4)) else { return nil }
            return (directory + "/" + name, first)
        }.sorted { $0.firstSequence < $1.firstSequence }
    }

    struct Recovery {
        var records: [(sequence: UInt64, payload: ArraySlice<UInt8>)] = []
        var highestSequence: UInt64 = 0
        var skippedSealed = 0
        /// Files whose end was cut off, with the bytes dropped.
        var truncated: [(path: String, droppedBytes: Int)] = []
    }

    /// Every record of the WAL files in `directory`, decoded, without changing the files (which
    /// a running server may be appending to: a record still being written fails its checksum
    /// and ends the file's records, as in recovery). For SQL against a data directory.
    package static func read(directory: String, pricing: PricingTable) throws -> [Unsealed.Entry] where Item == WALEntry {
        var entries: [Unsealed.Entry] = []
        for (path, _) in files(in: directory) {
            // A file reclaimed after a seal since it was listed: its records are in a segment.
            guard let bytes = try contents(ofFileAt: path) else { continue }
            for record in WALRecord.parse(bytes).records {
                entries.append(Unsealed.Entry(sequence: record.sequence, item: try WALPayload.decode(record.payload, pricing: pricing)))
            }
        }
        return entries
    }

    /// The bytes of the file at `path`; nil when it does not exist (any more).
    private static func contents(ofFileAt path: String) throws(StoreError) -> [UInt8]? {
        let handle: StoreFile
        do {
            handle = try StoreFile(path: path)
        } catch where error.errno == ENOENT {
            return nil
        }
        return try handle.read(count: try handle.size, at: 0)
    }

    /// Reads every record after `sealed`; a torn or corrupt tail of a file is cut off at its last good record.
    static func recover(directory: String, after sealed: UInt64) throws(StoreError) -> Recovery {
        var recovery = Recovery()
        for (path, _) in files(in: directory) {
            let handle = try StoreFile(path: path, writable: true)
            let bytes = try handle.read(count: try handle.size, at: 0)
            let (records, validLength) = WALRecord.parse(bytes)
            if validLength < bytes.count {
                try handle.truncate(to: validLength)
                try handle.sync()
                recovery.truncated.append((path, bytes.count - validLength))
            }
            for record in records {
                recovery.highestSequence = max(recovery.highestSequence, record.sequence)
                if record.sequence <= sealed {
                    recovery.skippedSealed += 1
                } else {
                    recovery.records.append(record)
                }
            }
        }
        return recovery
    }
}
