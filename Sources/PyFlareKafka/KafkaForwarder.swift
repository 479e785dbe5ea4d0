public import Logging
import Metrics
public import PyFlareStore
public import ServiceLifecycle

/// The Kafka exporter next to the store (`exporters.kafka.brokers` with `sink.kind: store`):
/// requests are acknowledged once the store has them in its WAL, and this service produces
/// every WAL record to the topics, in order, as received. A broker that is away holds the
/// records in the WAL (its files are kept until forwarded) and they go once it is back; the
/// position is kept in the index, so a restart (or `kill -9`) resumes after the last record
/// the broker acknowledged. A record acknowledged by the broker whose position a crash did not
/// keep is produced again: at least once, like the receiver on the other side.
public final class KafkaForwarder: Service {
    private let store: SpanStore
    private let sink: KafkaSink
    private let logger: Logger
    private let forwardedRecords = Counter(label: "pyflare_kafka_forwarded_wal_records_total")
    private let skippedRecords = Counter(label: "pyflare_kafka_forward_skipped_wal_records_total")
    /// Bytes of WAL records read and produced at once.
    static let readBytes = 4 << 20

    public init(store: SpanStore, sink: KafkaSink, logger: Logger) {
        self.store = store
        self.sink = sink
        self.logger = logger
    }

    public func run() async throws {
        logger.info("forwarding the store's WAL to Kafka", metadata: ["after_wal_sequence": "\(store.forwardedSequence)"])
        try? await cancelWhenGracefulShutdown { [self] in
            var failures = 0
            var pending: [Unsealed.Entry] = []
            while !Task.isCancelled {
                do {
                    if pending.isEmpty { pending = try await store.recordsToForward(maxBytes: Self.readBytes) }
                    guard let last = pending.last else {
                        try await Task.sleep(for: .milliseconds(20))
                        continue
                    }
                    try await produce(pending)
                    try await store.markForwarded(upTo: last.sequence)
                    forwardedRecords.increment(by: pending.count)
                    pending = []
                    if failures > 0 { logger.info("forwarding to Kafka again", metadata: ["after_failures": "\(failures)"]) }
                    failures = 0
                } catch is CancellationError {
                    return
                } catch {
                    // The records stay pending (and in the WAL): retried, never skipped.
                    failures += 1
                    if failures == 1 || failures % 30 == 0 {
                        logger.error("forwarding WAL records to Kafka failed; retrying", metadata: [
                            "error": "\(error)", "failures": "\(failures)", "records": "\(pending.count)",
                        ])
                    }
                    try? await Task.sleep(for: .milliseconds(min(5_000, 100 << min(failures, 6))))
                }
            }
        }
        try await sink.close()
    }

    private func produce(_ entries: [Unsealed.Entry]) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for entry in entries {
                group.addTask { [sink, logger, skippedRecords] in
                    do {
                        switch entry.item {
                        case .spans(let batches): try await sink.write(batches)
                        case .logs(let batch): try await sink.writeLogs(batch)
                        case .metrics(let batch): try await sink.writeMetrics(batch)
                        }
                    } catch KafkaSinkError.notProtobuf {
                        // Received as OTLP/JSON before forwarding was turned on (it refuses JSON since):
                        // nothing to forward as received; skipped, not retried forever.
                        skippedRecords.increment()
                        logger.warning("a WAL record received as OTLP/JSON is not forwarded", metadata: ["wal_sequence": "\(entry.sequence)"])
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}
