import Synchronization
import GRDB
import NIOPosix

/// The store's WAL as the source of a forwarder (the Kafka exporter next to the store,
/// `storage.forward`): every acknowledged record is read back from the WAL files in order, and
/// a WAL file is deleted only once its records are both sealed and forwarded, so a broker that
/// is away holds records on disk rather than losing them. The position is kept in the index
/// (`store_state`), so a restart resumes after the last record forwarded.
extension SpanStore {
    static let forwardedPositionKey = "forwarded_wal_sequence"

    /// The next records to forward, in WAL order, about `maxBytes` of them; empty when the
    /// forwarder has caught up.
    package func recordsToForward(maxBytes: Int) async throws -> [Unsealed.Entry] {
        let (directory, pricing) = (configuration.walDirectory, pricing)
        return try await threadPool.runIfActive { [self] in
            try self.forwardTail.withLock { tail in
                try tail.next(directory: directory, maxBytes: maxBytes).map {
                    Unsealed.Entry(sequence: $0.sequence, item: try WALPayload.decode($0.payload, pricing: pricing))
                }
            }
        }
    }

    /// Records up to `sequence` are forwarded: kept as the position, and their WAL files may go.
    package func markForwarded(upTo sequence: UInt64) async throws {
        try await index.write("recording the forwarded WAL position") { db in
            try StoreCatalog.setValue(Int64(sequence), forKey: Self.forwardedPositionKey, db)
        }
        forwarded.withLock { $0 = max($0, sequence) }
        try await reclaimWAL()
    }

    /// The last record forwarded.
    package var forwardedSequence: UInt64 { forwarded.withLock { $0 } }
}
