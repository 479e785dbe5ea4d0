public import Logging
import Synchronization
import Metrics
public import PyFlareModel
import PyFlareWire

/// The Kafka exporter (`exporters.kafka`): every accepted request produced to its signal's
/// topic as the `Export*ServiceRequest` protobuf it came as — spans cut into one request per
/// trace, keyed by trace id, so a trace stays on one partition — and acknowledged only once
/// the broker acknowledged every message. A full producer queue is back-pressure (429); a
/// message the broker did not take in time fails its request (503): nothing acknowledged is
/// dropped.
public final class KafkaSink: SpanSink, RecordSink {
    private let producer: Mutex<KafkaProducer>
    private let logger: Logger
    private let settings: KafkaExporterSettings
    private let produced: Counter
    private let failed: Counter
    private let queued: Gauge

    public init(settings: KafkaExporterSettings, logger: Logger) throws(KafkaError) {
        self.settings = settings
        self.logger = logger
        producer = Mutex(try KafkaProducer(properties: settings.properties))
        logger.info("Kafka exporter", metadata: ["brokers": "\(settings.brokers)", "librdkafka": "\(KafkaProducer.libraryVersion)"])
        produced = Counter(label: "pyflare_kafka_messages_produced_total")
        failed = Counter(label: "pyflare_kafka_messages_failed_total")
        queued = Gauge(label: "pyflare_kafka_messages_queued")
    }

    public var takesProtobufOnly: Bool { true }

    public func write(_ batches: [NormalizedBatch]) async throws {
        var messages: [KafkaProducer.Message] = []
        for batch in batches where batch.count > 0 {
            guard batch.spans.arenaIsProtobufRequest else { throw KafkaSinkError.notProtobuf }
            for piece in try TraceRequestSplit.byTrace(batch.spans.bytes, keeping: Set(batch.spans.spanIDs)) {
                messages.append(.init(topic: settings.spansTopic, key: piece.key, value: piece.request))
            }
        }
        try await produce(messages)
    }

    public func writeLogs(_ batch: LogBatch) async throws {
        // Requests are protobuf here (JSON is refused first): the batch's arena is the request.
        try await produce([.init(topic: settings.logsTopic, key: nil, value: batch.bytes)])
    }

    public func writeMetrics(_ batch: MetricBatch) async throws {
        try await produce([.init(topic: settings.metricsTopic, key: nil, value: batch.bytes)])
    }

    public func close() async throws {
        producer.withLock { $0 }.close()
    }

    private func produce(_ messages: [KafkaProducer.Message]) async throws {
        guard !messages.isEmpty else { return }
        let producer = self.producer.withLock { $0 }
        defer { queued.record(producer.queued) }
        do {
            try await producer.produce(messages)
            produced.increment(by: messages.count)
        } catch {
            failed.increment(by: messages.count)
            if let fatal = producer.fatalError ?? (error.code == .fenced ? error.message : nil) { replace(producer, because: fatal) }
            if error.code == .queueFull { throw KafkaBackPressure(message: error.message) }
            throw KafkaSinkError.kafka(error.message)
        }
    }
}

extension KafkaSink {
    /// A new producer in place of `broken`, once (concurrent failures of one producer replace it once).
    private func replace(_ broken: KafkaProducer, because reason: String) {
        let replaced = producer.withLock { current -> Bool in
            guard current === broken, let fresh = try? KafkaProducer(properties: settings.properties) else { return false }
            current = fresh
            return true
        }
        guard replaced else { return }
        logger.warning("Kafka producer failed for good; replaced by a new one (the requests it held get 503 and are retried)",
                       metadata: ["error": "\(reason)"])
        broken.close(timeout: .zero)
    }
}

struct KafkaBackPressure: BackPressureError {
    var message: String
    var clientMessage: String { message }
}

enum KafkaSinkError: ClientDescribedError {
    case notProtobuf
    case kafka(String)

    var clientMessage: String {
        switch self {
        case .notProtobuf: "only protobuf requests are forwarded to Kafka"
        case .kafka(let message): message
        }
    }
}
