import CRdKafka
import Foundation
import Logging
import PyFlareWire
import Synchronization

/// A Kafka failure, in words a client may be told (no broker addresses beyond the configured ones).
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// The configuration was refused by librdkafka.
        case configuration
        /// The producer's local queue is full: back-pressure, retry later.
        case queueFull
        /// A message was not acknowledged (broker down past the delivery timeout, refused…).
        case delivery
        /// The broker no longer takes this idempotent producer's messages (fenced, unknown
        /// producer id or out of sequence, as after a broker that lost its producer state):
        /// only a new producer is accepted.
        case fenced
        /// The client is closed.
        case closed
    }

    public var code: Code
    public var message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    static func text(_ error: rd_kafka_resp_err_t) -> String { String(cString: rd_kafka_err2str(error)) }

    /// The text librdkafka wrote into an error buffer (NUL-terminated).
    static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// librdkafka configuration properties (`bootstrap.servers`, `acks`, …), checked as they are set.
struct KafkaConfiguration {
    let handle: OpaquePointer

    init(_ properties: [(String, String)]) throws(KafkaError) {
        handle = rd_kafka_conf_new()
        for (name, value) in properties {
            var error = [CChar](repeating: 0, count: 512)
            guard rd_kafka_conf_set(handle, name, value, &error, error.count) == RD_KAFKA_CONF_OK else {
                rd_kafka_conf_destroy(handle)
                throw KafkaError(.configuration, "Kafka property \(name): \(KafkaError.text(error))")
            }
        }
    }
}

/// What a batch of produced messages waits on: one delivery report per message.
final class DeliveryGroup: Sendable {
    struct Failure: Sendable {
        var code: rd_kafka_resp_err_t
        var text: String
    }

    private struct State {
        var remaining: Int
        var failure: Failure?
        var waiter: CheckedContinuation<Failure?, Never>?
    }

    private let state: Mutex<State>

    init(count: Int) {
        state = Mutex(State(remaining: count))
    }

    /// One message is settled: delivered, or failed with `error`.
    func settle(_ error: Failure?) {
        let waiter: CheckedContinuation<Failure?, Never>?, failure: Failure?
        (waiter, failure) = state.withLock { state in
            state.remaining -= 1
            if let error, state.failure == nil { state.failure = error }
            guard state.remaining == 0 else { return (nil, nil) }
            defer { state.waiter = nil }
            return (state.waiter, state.failure)
        }
        waiter?.resume(returning: failure)
    }

    /// Messages that were never handed to librdkafka (the queue was full).
    func abandon(_ count: Int) {
        for _ in 0..<count { settle(nil) }
    }

    /// Waits until every message is settled; the first failure, if any.
    func wait() async -> Failure? {
        await withCheckedContinuation { continuation in
            let settled: Failure?? = state.withLock { state in
                guard state.remaining > 0 else { return .some(state.failure) }
                state.waiter = continuation
                return .none
            }
            if case .some(let failure) = settled { continuation.resume(returning: failure) }
        }
    }
}

/// A librdkafka producer: messages are produced, and their delivery reports served, by a
/// thread of its own polling the client; an async caller waits for the reports of its messages.
final class KafkaProducer: @unchecked Sendable {
    private let handle: OpaquePointer
    private let topics: Mutex<[String: OpaquePointer]> = Mutex([:])
    private let running = RunFlag()
    private let pollerExited = DispatchSemaphore(value: 0)
    private let poller: Thread

    struct Message {
        var topic: String
        var key: [UInt8]?
        var value: [UInt8]
    }

    init(properties: [(String, String)]) throws(KafkaError) {
        let configuration = try KafkaConfiguration(properties)
        rd_kafka_conf_set_dr_msg_cb(configuration.handle) { _, message, _ in
            guard let message, let opaque = message.pointee._private else { return }
            let group = Unmanaged<DeliveryGroup>.fromOpaque(opaque).takeRetainedValue()
            let error = message.pointee.err
            group.settle(error == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : DeliveryGroup.Failure(code: error, text: KafkaError.text(error)))
        }
        var error = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(RD_KAFKA_PRODUCER, configuration.handle, &error, error.count) else {
            rd_kafka_conf_destroy(configuration.handle)
            throw KafkaError(.configuration, "cannot create the Kafka producer: \(KafkaError.text(error))")
        }
        self.handle = handle
        // librdkafka's handles are thread-safe; only this thread polls this one.
        nonisolated(unsafe) let polled = handle
        poller = Thread { [running, pollerExited] in
            while running.isOn { rd_kafka_poll(polled, 100) }
            pollerExited.signal()
        }
        poller.name = "pyflare-kafka-producer"
        poller.start()
    }

    deinit {
        running.turnOff()
        pollerExited.wait()
        for topic in topics.withLock({ Array($0.values) }) { rd_kafka_topic_destroy(topic) }
        rd_kafka_destroy(handle)
    }

    /// The librdkafka loaded at run time (the one linked may be replaced by a newer one).
    static var libraryVersion: String { String(cString: rd_kafka_version_str()) }

    /// Messages waiting in librdkafka's queue for delivery (or for their report to be served).
    var queued: Int { Int(rd_kafka_outq_len(handle)) }

    /// Set once librdkafka declared the producer unusable (an idempotent producer fenced or out
    /// of sequence, as after a broker that lost its producer state): only a new producer recovers.
    var fatalError: String? {
        var text = [CChar](repeating: 0, count: 512)
        let error = rd_kafka_fatal_error(handle, &text, text.count)
        return error == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError.text(text)
    }

    /// Produces `messages` and waits until the broker acknowledged every one (with the
    /// configured `acks`). A full local queue is ``KafkaError/Code/queueFull`` (the messages
    /// already produced are still waited for); a message not acknowledged is `delivery`.
    func produce(_ messages: [Message]) async throws(KafkaError) {
        guard running.isOn else { throw KafkaError(.closed, "the Kafka producer is closed") }
        let group = DeliveryGroup(count: messages.count)
        var refused: String?
        for (index, message) in messages.enumerated() {
            let topic = self.topic(message.topic)
            let opaque = Unmanaged.passRetained(group).toOpaque()
            let result = message.value.withUnsafeBytes { value in
                if let key = message.key {
                    return key.withUnsafeBytes { key in
                        rd_kafka_produce(topic, -1, 0x2 /* RD_KAFKA_MSG_F_COPY */, UnsafeMutableRawPointer(mutating: value.baseAddress),
                                         value.count, key.baseAddress, key.count, opaque)
                    }
                }
                return rd_kafka_produce(topic, -1, 0x2, UnsafeMutableRawPointer(mutating: value.baseAddress), value.count, nil, 0, opaque)
            }
            if result != 0 {
                Unmanaged<DeliveryGroup>.fromOpaque(opaque).release()
                refused = KafkaError.text(rd_kafka_last_error())
                group.abandon(messages.count - index)
                break
            }
        }
        let failure = await group.wait()
        if let refused { throw KafkaError(.queueFull, "the Kafka producer's queue is full (\(refused)); retry later") }
        if let failure {
            let fenced = [RD_KAFKA_RESP_ERR_PRODUCER_FENCED, RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH, RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID,
                          RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER].contains(failure.code)
            throw KafkaError(fenced ? .fenced : .delivery, "Kafka did not acknowledge the messages: \(failure.text)")
        }
    }

    /// Waits up to `timeout` for what is queued to be delivered, then stops polling.
    func close(timeout: Duration = .seconds(10)) {
        rd_kafka_flush(handle, Int32(timeout.components.seconds * 1000))
        running.turnOff()
    }

    private func topic(_ name: String) -> OpaquePointer {
        topics.withLock { topics in
            if let topic = topics[name] { return topic }
            let topic = rd_kafka_topic_new(handle, name, nil)!
            topics[name] = topic
            return topic
        }
    }
}

/// A librdkafka consumer in a group. A thread of its own polls it: it takes what has arrived
/// (up to ``maxPollBytes``), hands it to the handler as one ``Poll`` and waits; only once the
/// handler has stored it does it poll again, so the stored position of each partition only grows.
///
/// The group's offsets are committed every `commitInterval`, and when partitions are revoked
/// or the consumer stops; in between, the node's own store knows what it holds (the offsets
/// are in its WAL records and index). When partitions are assigned, each starts after the
/// higher of the group's committed offset and what `storedOffsets` reports: a node killed
/// after storing a poll but before committing it does not store it again.
final class KafkaConsumer: @unchecked Sendable {
    /// The messages of one poll, their values concatenated per topic (protobuf concatenation of
    /// `Export*ServiceRequest`s is their merge: each has one repeated field), with the last
    /// offset of each partition they hold.
    struct Poll: Sendable {
        struct Topic: Sendable {
            var topic: String
            var body: [UInt8]
            var messages: Int
            var offsets: [SourceOffset]
        }

        var topics: [Topic]
        var messages: Int { topics.reduce(0) { $0 + $1.messages } }
    }

    /// Bytes of message values taken into one poll, at most (one message may be larger).
    let maxPollBytes: Int
    private let handle: OpaquePointer
    private let running = RunFlag()
    private let logger: Logger
    private let offsets: Unmanaged<ConsumerOffsets>
    private let commitInterval: Duration

    init(properties: [(String, String)], topics: [String], maxPollBytes: Int = 4 << 20, commitInterval: Duration = .seconds(1),
         storedOffsets: (@Sendable () async throws -> [SourceOffset])?, logger: Logger) throws(KafkaError) {
        self.logger = logger
        self.maxPollBytes = maxPollBytes
        self.commitInterval = commitInterval
        let configuration = try KafkaConfiguration(properties)
        let offsets = Unmanaged.passRetained(ConsumerOffsets(storedOffsets: storedOffsets, logger: logger))
        rd_kafka_conf_set_opaque(configuration.handle, offsets.toOpaque())
        rd_kafka_conf_set_rebalance_cb(configuration.handle) { handle, error, partitions, opaque in
            guard let handle, let opaque else { return }
            Unmanaged<ConsumerOffsets>.fromOpaque(opaque).takeUnretainedValue().rebalance(handle, error, partitions)
        }
        var error = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(RD_KAFKA_CONSUMER, configuration.handle, &error, error.count) else {
            offsets.release()
            rd_kafka_conf_destroy(configuration.handle)
            throw KafkaError(.configuration, "cannot create the Kafka consumer: \(KafkaError.text(error))")
        }
        self.handle = handle
        self.offsets = offsets
        rd_kafka_poll_set_consumer(handle)
        let list = rd_kafka_topic_partition_list_new(Int32(topics.count))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for topic in topics { rd_kafka_topic_partition_list_add(list, topic, -1) }
        let subscribed = rd_kafka_subscribe(handle, list)
        guard subscribed == RD_KAFKA_RESP_ERR_NO_ERROR else {
            rd_kafka_destroy(handle)
            offsets.release()
            throw KafkaError(.configuration, "cannot subscribe to \(topics.joined(separator: ", ")): \(KafkaError.text(subscribed))")
        }
    }

    deinit {
        rd_kafka_destroy(handle)
        offsets.release()
    }

    /// Polls until ``stop()``; returns once the consumer has left its group. `handle` returns
    /// true once the poll is durable; false retries it (after a pause) until it is or the
    /// consumer stops.
    func run(_ handle: @escaping @Sendable (inout Poll) async -> Bool) async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let thread = Thread { [self] in
                pollLoop(handle)
                offsets.takeUnretainedValue().commitStored(self.handle)
                rd_kafka_consumer_close(self.handle)
                done.resume()
            }
            thread.name = "pyflare-kafka-consumer"
            thread.start()
        }
    }

    func stop() {
        running.turnOff()
    }

    private func pollLoop(_ process: @escaping @Sendable (inout Poll) async -> Bool) {
        let offsets = self.offsets.takeUnretainedValue()
        var lastCommit = ContinuousClock.now
        while running.isOn {
            if lastCommit.duration(to: .now) >= commitInterval {
                offsets.commitStored(handle)
                lastCommit = .now
            }
            guard let taken = nextPoll() else { continue }
            var poll = taken
            var backoff = 0.05
            var stored = false
            while !stored, running.isOn {
                let rest: Poll
                (stored, rest) = waitBlocking { [poll] in
                    var remaining = poll
                    return (await process(&remaining), remaining)
                }
                guard !stored else { break }
                // What was stored is not offered again: only the topics the handler left.
                poll = rest
                Thread.sleep(forTimeInterval: backoff)
                backoff = min(backoff * 2, 5)
            }
            // Stopped before the poll was stored: the next start reads it again.
            guard stored else { return }
            offsets.stored(taken.topics.flatMap(\.offsets))
        }
    }

    /// What has arrived, waiting up to 100 ms for the first message; nil when nothing did.
    private func nextPoll() -> Poll? {
        var topics: [String: Poll.Topic] = [:]
        var order: [String] = []
        var highest: [SourceOffset.PartitionKey: Int64] = [:]
        var bytes = 0
        var timeout: Int32 = 100
        while bytes < maxPollBytes, running.isOn, let message = rd_kafka_consumer_poll(handle, timeout) {
            defer { rd_kafka_message_destroy(message) }
            timeout = 0
            let error = message.pointee.err
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
                if error != RD_KAFKA_RESP_ERR__PARTITION_EOF {
                    logger.warning("Kafka consumer error", metadata: ["error": "\(KafkaError.text(error))"])
                }
                continue
            }
            let topic = String(cString: rd_kafka_topic_name(message.pointee.rkt))
            if topics[topic] == nil {
                topics[topic] = Poll.Topic(topic: topic, body: [], messages: 0, offsets: [])
                order.append(topic)
            }
            if let payload = message.pointee.payload {
                topics[topic]!.body.append(contentsOf: UnsafeRawBufferPointer(start: payload, count: message.pointee.len))
            }
            topics[topic]!.messages += 1
            highest[.init(topic: topic, partition: message.pointee.partition)] = message.pointee.offset
            bytes += message.pointee.len
        }
        guard !order.isEmpty else { return nil }
        for (key, offset) in highest {
            topics[key.topic]!.offsets.append(SourceOffset(topic: key.topic, partition: key.partition, offset: offset))
        }
        return Poll(topics: order.map { topics[$0]! })
    }
}

/// What a consumer has stored and not committed yet, and where its assigned partitions start
/// (librdkafka calls ``rebalance(_:_:_:)`` from the polling thread, inside `rd_kafka_consumer_poll`):
/// after what this node stored, when that is past the group's committed offset. Revoked
/// partitions are committed before they are let go, so the next owner starts after them.
final class ConsumerOffsets: @unchecked Sendable {
    private let storedOffsets: (@Sendable () async throws -> [SourceOffset])?
    private let logger: Logger
    /// Only the polling thread touches it.
    private var uncommitted: [SourceOffset.PartitionKey: Int64] = [:]

    init(storedOffsets: (@Sendable () async throws -> [SourceOffset])?, logger: Logger) {
        self.storedOffsets = storedOffsets
        self.logger = logger
    }

    /// The last offsets of a poll now stored.
    func stored(_ offsets: [SourceOffset]) {
        for item in offsets { uncommitted[.init(topic: item.topic, partition: item.partition)] = item.offset }
    }

    /// Commits the group's offsets after what was stored since the last commit (synchronously:
    /// it runs between polls, and before partitions are let go).
    func commitStored(_ handle: OpaquePointer) {
        guard !uncommitted.isEmpty else { return }
        let list = rd_kafka_topic_partition_list_new(Int32(uncommitted.count))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for (key, offset) in uncommitted { rd_kafka_topic_partition_list_add(list, key.topic, key.partition)?.pointee.offset = offset + 1 }
        let committed = rd_kafka_commit(handle, list, 0)
        if committed == RD_KAFKA_RESP_ERR_NO_ERROR {
            uncommitted = [:]
        } else {
            logger.warning("Kafka offsets not committed; this node resumes from its own, retried at the next commit",
                           metadata: ["error": "\(KafkaError.text(committed))"])
        }
    }

    func rebalance(_ handle: OpaquePointer, _ error: rd_kafka_resp_err_t,
                   _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) {
        let cooperative = String(cString: rd_kafka_rebalance_protocol(handle)) == "COOPERATIVE"
        guard error == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, let partitions else {
            commitStored(handle)
            if cooperative {
                if let failure = rd_kafka_incremental_unassign(handle, partitions) { rd_kafka_error_destroy(failure) }
            } else {
                rd_kafka_assign(handle, nil)
            }
            return
        }
        if let storedOffsets {
            var stored: [SourceOffset.PartitionKey: Int64] = [:]
            let offsets = waitBlocking { () -> Result<[SourceOffset], any Error> in
                do { return .success(try await storedOffsets()) } catch { return .failure(error) }
            }
            switch offsets {
            case .success(let offsets):
                for item in offsets { stored[.init(topic: item.topic, partition: item.partition)] = item.offset }
            case .failure(let error):
                logger.error("the store's Kafka positions could not be read: resuming from the group's, what was stored since its last commit is stored again",
                             metadata: ["error": "\(error)"])
            }
            let asked = rd_kafka_committed(handle, partitions, 10_000)
            if asked != RD_KAFKA_RESP_ERR_NO_ERROR {
                logger.warning("Kafka committed offsets not read; resuming from this node's own", metadata: ["error": "\(KafkaError.text(asked))"])
            }
            for index in 0..<Int(partitions.pointee.cnt) {
                let element = partitions.pointee.elems.advanced(by: index)
                let topic = String(cString: element.pointee.topic)
                guard let last = stored[.init(topic: topic, partition: element.pointee.partition)] else { continue }
                // A negative offset is "none committed" (-1001) or a logical position.
                if element.pointee.offset < 0 || element.pointee.offset <= last {
                    logger.info("Kafka partition resumes after what this node stored", metadata: [
                        "topic": "\(topic)", "partition": "\(element.pointee.partition)", "committed": "\(element.pointee.offset)", "offset": "\(last + 1)",
                    ])
                    element.pointee.offset = last + 1
                }
            }
        }
        if cooperative {
            if let failure = rd_kafka_incremental_assign(handle, partitions) { rd_kafka_error_destroy(failure) }
        } else {
            rd_kafka_assign(handle, partitions)
        }
    }
}

/// Runs `work` and blocks this (own, non-pool) thread until it is done.
private func waitBlocking<T: Sendable>(_ work: @escaping @Sendable () async -> T) -> T {
    let semaphore = DispatchSemaphore(value: 0)
    let result = Mutex<T?>(nil)
    Task {
        let value = await work()
        result.withLock { $0 = value }
        semaphore.signal()
    }
    semaphore.wait()
    return result.withLock { $0! }
}

/// On until turned off; shared with a polling thread.
final class RunFlag: Sendable {
    private let value = Atomic<Bool>(true)
    var isOn: Bool { value.load(ordering: .acquiring) }
    func turnOff() { value.store(false, ordering: .releasing) }
}

