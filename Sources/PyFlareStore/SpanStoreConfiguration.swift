/// Where and how the durable store keeps spans.
public struct SpanStoreConfiguration: Sendable, Equatable {
    /// The data directory: `wal/`, `segments/`, `quarantine/` and `index.db` live here.
    public var dataDirectory: String
    public var walSync: WALSyncMode
    /// For `walSync = .interval`: the longest time acknowledged data stays unsynced.
    public var walSyncInterval: Duration
    /// A WAL file is closed and a new one started past this size.
    public var walMaxFileBytes: Int
    /// Unsealed spans are sealed into a segment once they take this much memory…
    public var segmentMaxBytes: Int
    /// …or once the oldest of them has waited this long.
    public var segmentMaxAge: Duration
    /// Spans per block (row group) in a segment.
    public var blockRows: Int
    /// Writes wait (and the batcher pushes back) while unsealed spans take more than this.
    public var maxUnsealedBytes: Int
    /// The object-storage tier of old segments; nil keeps every segment local.
    public var remote: RemoteSegmentSettings? = nil
    /// A forwarder reads the acknowledged records back from the WAL (the Kafka exporter next
    /// to the store): WAL files are kept until their records are forwarded, and requests must
    /// come as protobuf (they are forwarded as received).
    public var forwardsRecords = false

    public init(dataDirectory: String, walSync: WALSyncMode = .always, walSyncInterval: Duration = .milliseconds(100),
                walMaxFileBytes: Int = 64 << 20, segmentMaxBytes: Int = 12 << 20, segmentMaxAge: Duration = .seconds(10),
                blockRows: Int = 1024, maxUnsealedBytes: Int = 40 << 20) {
        self.dataDirectory = dataDirectory
        self.walSync = walSync
        self.walSyncInterval = walSyncInterval
        self.walMaxFileBytes = walMaxFileBytes
        self.segmentMaxBytes = segmentMaxBytes
        self.segmentMaxAge = segmentMaxAge
        self.blockRows = blockRows
        self.maxUnsealedBytes = maxUnsealedBytes
    }

    var walDirectory: String { dataDirectory + "/wal" }
    var segmentDirectory: String { dataDirectory + "/segments" }
    var quarantineDirectory: String { dataDirectory + "/quarantine" }
    var indexPath: String { dataDirectory + "/index.db" }
}
