#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import NIOPosix
import Synchronization
public import PyFlareModel
public import PyFlareWire

/// The debugging exporter: every span as one JSON line in `<directory>/spans.jsonl`, every
/// log record in `logs.jsonl` and every metric data point in `metrics.jsonl`.
///
/// When an active file would pass `maxFileBytes`, it is renamed to `spans.N.jsonl` (`logs.N.jsonl`, …)
/// (N grows: higher is newer) and a new one is started; only the newest `maxFiles`
/// rotated files are kept (0 keeps all). Rotation happens between lines, so a file
/// passes the limit only when a single span is larger than it. Encoding runs on the
/// batcher's workers in parallel; file writes run on NIO's blocking thread pool, one at a time.
public final class JSONLinesFileSink: SpanSink, RecordSink {
    public struct Configuration: Sendable, Equatable {
        /// Directory of the files; created if missing.
        public var directory: String
        /// Size at which the active file is rotated. Default 64 MiB.
        public var maxFileBytes: Int
        /// Rotated files kept; 0 keeps all. Default 10.
        public var maxFiles: Int

        public init(directory: String, maxFileBytes: Int = 64 << 20, maxFiles: Int = 10) {
            self.directory = directory
            self.maxFileBytes = maxFileBytes
            self.maxFiles = maxFiles
        }
    }

    public let configuration: Configuration
    private let encoder: SpanJSONLinesEncoder
    private let spanFile: Mutex<RotatingFile>
    private let logFile: Mutex<RotatingFile>
    private let metricFile: Mutex<RotatingFile>
    private let threadPool: NIOThreadPool

    public init(configuration: Configuration, pricing: PricingTable, threadPool: NIOThreadPool = .singleton) throws(StoreError) {
        self.configuration = configuration
        self.encoder = SpanJSONLinesEncoder(pricing: pricing)
        self.threadPool = threadPool
        self.spanFile = Mutex(try RotatingFile(configuration: configuration, name: "spans"))
        self.logFile = Mutex(try RotatingFile(configuration: configuration, name: "logs"))
        self.metricFile = Mutex(try RotatingFile(configuration: configuration, name: "metrics"))
    }

    public func write(_ batches: [NormalizedBatch]) async throws {
        var json = JSONWriter(capacity: batches.reduce(0) { $0 + $1.spans.bytes.count * 2 })
        var lineEnds: [Int] = []
        for batch in batches { encoder.encode(batch, into: &json, lineEnds: &lineEnds) }
        try await append(json.bytes, lineEnds, to: .spans)
    }

    public func writeLogs(_ batch: LogBatch) async throws {
        var json = JSONWriter(capacity: batch.bytes.count * 2)
        var lineEnds: [Int] = []
        LogRecordJSON.lines(batch, into: &json, lineEnds: &lineEnds)
        try await append(json.bytes, lineEnds, to: .logs)
    }

    public func writeMetrics(_ batch: MetricBatch) async throws {
        var json = JSONWriter(capacity: batch.bytes.count * 2)
        var lineEnds: [Int] = []
        MetricPointJSON.lines(batch, into: &json, lineEnds: &lineEnds)
        try await append(json.bytes, lineEnds, to: .metrics)
    }

    private enum Signal { case spans, logs, metrics }

    private func append(_ bytes: [UInt8], _ lineEnds: [Int], to signal: Signal) async throws {
        try await threadPool.runIfActive { [self] in
            try withFile(signal) { file throws(StoreError) in try file.append(bytes, lineEnds: lineEnds) }
        }
    }

    /// Each file has its own lock: spans, logs and metrics are written independently.
    private func withFile(_ signal: Signal, _ body: (inout RotatingFile) throws(StoreError) -> Void) throws(StoreError) {
        switch signal {
        case .spans: try spanFile.withLock { file throws(StoreError) in try body(&file) }
        case .logs: try logFile.withLock { file throws(StoreError) in try body(&file) }
        case .metrics: try metricFile.withLock { file throws(StoreError) in try body(&file) }
        }
    }

    public func close() async throws {
        try await threadPool.runIfActive { [self] in
            for signal in [Signal.spans, .logs, .metrics] {
                try withFile(signal) { file throws(StoreError) in try file.close() }
            }
        }
    }
}

/// The active file and its rotation; only touched under the sink's mutex, on the thread pool.
struct RotatingFile: ~Copyable {
    let configuration: JSONLinesFileSink.Configuration
    /// `spans`, `logs` or `metrics`: the files are `<name>.jsonl` and `<name>.N.jsonl`.
    let name: String
    private var descriptor: Int32 = -1
    private var closed = false
    private var size = 0
    private var nextSequence = 1

    var activePath: String { configuration.directory + "/\(name).jsonl" }
    func rotatedPath(_ sequence: Int) -> String { configuration.directory + "/\(name).\(sequence).jsonl" }

    init(configuration: JSONLinesFileSink.Configuration, name: String) throws(StoreError) {
        self.configuration = configuration
        self.name = name
        try StoreDirectory.create(configuration.directory)
        nextSequence = (rotatedSequences().max() ?? 0) + 1
    }

    /// Sequence numbers of the rotated files present, from their names.
    func rotatedSequences() -> [Int] {
        StoreDirectory.names(configuration.directory).compactMap { name in
            guard name.hasPrefix(self.name + "."), name.hasSuffix(".jsonl") else { return nil }
            return Int(name.dropFirst(self.name.count + 1).dropLast(6))
        }
    }

    private mutating func open() throws(StoreError) {
        descriptor = Glibc.open(activePath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw StoreError(.io, "cannot open", path: activePath, errno: errno) }
        var info = stat()
        size = fstat(descriptor, &info) == 0 ? Int(info.st_size) : 0
    }

    /// Writes whole lines, rotating between lines when the next one would pass the limit.
    mutating func append(_ bytes: [UInt8], lineEnds: [Int]) throws(StoreError) {
        guard !closed else { throw StoreError(.closed, "file exporter is closed", path: activePath) }
        // Opened at the first write, so a signal that never arrives leaves no empty file.
        if descriptor < 0 { try open() }
        var chunkStart = 0
        var previousEnd = 0
        for lineEnd in lineEnds {
            let lineLength = lineEnd - previousEnd
            if size + (previousEnd - chunkStart) + lineLength > configuration.maxFileBytes, size + (previousEnd - chunkStart) > 0 {
                try writeAll(bytes, chunkStart..<previousEnd)
                try rotate()
                chunkStart = previousEnd
            }
            previousEnd = lineEnd
        }
        try writeAll(bytes, chunkStart..<previousEnd)
    }

    private mutating func writeAll(_ bytes: [UInt8], _ range: Range<Int>) throws(StoreError) {
        var offset = range.lowerBound
        while offset < range.upperBound {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + offset, range.upperBound - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw StoreError(.io, "write failed", path: activePath, errno: errno)
            }
            offset += written
            size += written
        }
    }

    private mutating func rotate() throws(StoreError) {
        Glibc.close(descriptor)
        descriptor = -1
        guard rename(activePath, rotatedPath(nextSequence)) == 0 else {
            throw StoreError(.io, "cannot rotate", path: activePath, errno: errno)
        }
        nextSequence += 1
        if configuration.maxFiles > 0 {
            for old in rotatedSequences().sorted().dropLast(configuration.maxFiles) {
                unlink(rotatedPath(old))
            }
        }
        try open()
    }

    mutating func close() throws(StoreError) {
        closed = true
        guard descriptor >= 0 else { return }
        defer { descriptor = -1 }
        if fsync(descriptor) != 0 { throw StoreError(.io, "fsync failed", path: activePath, errno: errno) }
        Glibc.close(descriptor)
    }

    deinit {
        if descriptor >= 0 { Glibc.close(descriptor) }
    }
}
