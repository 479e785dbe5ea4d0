/// Where in a partitioned log (a Kafka topic) a request was read from: kept with the records
/// it held, in the same WAL record, so a node that consumed it knows after a crash exactly
/// what it has stored and resumes after it, neither losing nor storing twice.
public struct SourceOffset: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    /// The last offset of that partition the request held.
    public var offset: Int64

    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }

    /// The highest offset per (topic, partition) of `offsets`.
    public static func latest(_ offsets: some Sequence<SourceOffset>) -> [SourceOffset] {
        var highest: [PartitionKey: Int64] = [:]
        for item in offsets {
            let key = PartitionKey(topic: item.topic, partition: item.partition)
            highest[key] = max(highest[key] ?? .min, item.offset)
        }
        return highest.map { SourceOffset(topic: $0.key.topic, partition: $0.key.partition, offset: $0.value) }
            .sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
    }

    public struct PartitionKey: Sendable, Hashable {
        public var topic: String
        public var partition: Int32

        public init(topic: String, partition: Int32) {
            self.topic = topic
            self.partition = partition
        }
    }
}
