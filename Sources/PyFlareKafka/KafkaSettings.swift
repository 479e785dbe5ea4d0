/// `exporters.kafka.*`: where and how accepted requests are produced (the component guide's
/// producer: a topic per signal, `acks=all`, idempotent, compression, linger and batch size).
public struct KafkaExporterSettings: Sendable, Equatable {
    /// `host:port,…`; empty: no Kafka exporter.
    public var brokers = ""
    public var spansTopic = "pyflare-spans"
    public var logsTopic = "pyflare-logs"
    public var metricsTopic = "pyflare-metrics"
    /// `none`, `gzip`, `snappy`, `lz4` or `zstd`.
    public var compression = "zstd"
    public var lingerMilliseconds = 5
    public var batchBytes = 1_000_000
    /// How long a message may wait for the broker before its request fails (503, retried).
    public var deliveryTimeoutMilliseconds = 30_000
    /// The producer's queue, in messages and in bytes: past either, requests get 429.
    public var queueMessages = 100_000
    public var queueBytes = 64 << 20
    /// More librdkafka properties (TLS, SASL, `broker.version.fallback`…), set after PyFlare's own.
    public var extraProperties: [String: String] = [:]

    public init() {}

    public static let compressions = ["none", "gzip", "snappy", "lz4", "zstd"]

    var properties: [(String, String)] {
        [("bootstrap.servers", brokers), ("acks", "all"), ("enable.idempotence", "true"), ("compression.type", compression),
         ("linger.ms", String(lingerMilliseconds)), ("batch.size", String(batchBytes)),
         ("message.timeout.ms", String(deliveryTimeoutMilliseconds)), ("queue.buffering.max.messages", String(queueMessages)),
         ("queue.buffering.max.kbytes", String(max(1, queueBytes / 1024))), ("message.max.bytes", String(32 << 20)),
         ("client.id", "pyflare-exporter")] + extraProperties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

/// `receivers.kafka.*`: a consumer group reading the exporter's topics into this node's pipeline.
public struct KafkaReceiverSettings: Sendable, Equatable {
    /// `host:port,…`; empty: no Kafka receiver.
    public var brokers = ""
    public var groupID = "pyflare-storage"
    public var spansTopic = "pyflare-spans"
    public var logsTopic = "pyflare-logs"
    public var metricsTopic = "pyflare-metrics"
    /// Bytes of messages read and stored as one request per topic, at most.
    public var maxPollBytes = 4 << 20
    /// How often the group's offsets are committed (the node's own are in its WAL at once).
    public var commitIntervalMilliseconds = 1000
    /// More librdkafka properties, set after PyFlare's own.
    public var extraProperties: [String: String] = [:]

    public init() {}

    var properties: [(String, String)] {
        // Offsets are committed by hand once a poll is stored (KafkaConsumer). A member that
        // died holds its partitions for the session timeout: 10 s, not librdkafka's 45.
        [("bootstrap.servers", brokers), ("group.id", groupID), ("enable.auto.commit", "false"),
         ("session.timeout.ms", "10000"), ("heartbeat.interval.ms", "3000"),
         // What librdkafka prefetches is bounded (its default queue is 64 MiB); a larger message is still fetched whole.
         ("auto.offset.reset", "earliest"), ("fetch.message.max.bytes", String(4 << 20)), ("queued.max.messages.kbytes", String(24 << 10)),
         ("client.id", "pyflare-receiver")] + extraProperties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}
