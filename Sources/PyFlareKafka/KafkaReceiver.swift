import Logging
public import PyFlareIngest
import PyFlareWire
public import ServiceLifecycle

/// The Kafka receiver (`receivers.kafka`): a member of a consumer group reading the exporter's
/// topics into this node's pipeline, as if each message had come over OTLP. A message's offset
/// is stored for commit only once its export returned — for the store, after the WAL fsync — so
/// a node that crashes re-reads what it had not stored rather than losing it; a message that
/// is not a valid request is logged and passed over, never retried forever. Several nodes in
/// one group split the partitions.
public final class KafkaReceiver: Service {
    private let consumer: KafkaConsumer
    private let export: OTLPExport
    private let signals: [String: OTLPResponse.Signal]
    private let logger: Logger

    /// `storedOffsets`: where the node's store is in each partition (``SpanStore/sourceOffsets()``);
    /// nil without a store, which makes the receiver at-least-once.
    public init(settings: KafkaReceiverSettings, export: OTLPExport, storedOffsets: (@Sendable () async throws -> [SourceOffset])?,
                logger: Logger) throws(KafkaError) {
        signals = [settings.spansTopic: .traces, settings.logsTopic: .logs, settings.metricsTopic: .metrics]
        consumer = try KafkaConsumer(properties: settings.properties, topics: [settings.spansTopic, settings.logsTopic, settings.metricsTopic],
                                     maxPollBytes: settings.maxPollBytes,
                                     commitInterval: .milliseconds(settings.commitIntervalMilliseconds), storedOffsets: storedOffsets, logger: logger)
        self.export = export
        self.logger = logger
        logger.info("Kafka receiver", metadata: ["brokers": "\(settings.brokers)", "group": "\(settings.groupID)",
                                                 "librdkafka": "\(KafkaProducer.libraryVersion)"])
    }

    public func run() async throws {
        let (export, signals, logger) = (self.export, self.signals, self.logger)
        let consumer = self.consumer
        await withGracefulShutdownHandler {
            await consumer.run { poll in
                // Each topic's messages are one request, stored with their offsets in one WAL record.
                var failed: [KafkaConsumer.Poll.Topic] = []
                for topic in poll.topics {
                    guard let signal = signals[topic.topic] else { continue }
                    switch await export.export(signal, body: topic.body, json: false, sourceOffsets: topic.offsets) {
                    case .accepted: continue
                    case .malformed(let reason):
                        // Never retried forever: a poll holding a message that is not a request is logged and passed over.
                        logger.error("Kafka messages are not an OTLP request; skipped", metadata: [
                            "topic": "\(topic.topic)", "messages": "\(topic.messages)",
                            "offsets": "\(topic.offsets.map { "\($0.partition):\($0.offset)" }.joined(separator: ","))", "error": "\(reason)",
                        ])
                    case .full, .closed, .failed:
                        failed.append(topic)
                    }
                }
                poll.topics = failed
                return failed.isEmpty
            }
        } onGracefulShutdown: {
            consumer.stop()
        }
    }
}
