import Dispatch
import NIOPosix
import PyFlareWire
import Synchronization

/// Lays out a segment file of any kind: header, then each block's column chunks
/// compressed and checksummed, then the footer and the trailer (`docs/segment-format.md`).
/// What the rows are and how they encode is up to the caller.
struct SegmentFileBuilder<Column: SegmentColumn> {
    private(set) var bytes: [UInt8]
    private(set) var blocks: [SegmentFooter.Block] = []
    private var rows = 0

    init() {
        bytes = SegmentFooter.header(Column.segmentKind)
    }

    /// One block's chunks compressed and checksummed, not yet placed in the file: blocks
    /// compress independently (on several threads when sealing), then are laid out in order.
    struct CompressedBlock {
        var block: EncodedBlock
        /// Per column present: its id, the compressed bytes' range in `data`, their checksum, the raw length.
        var chunks: [(column: Column, range: Range<Int>, checksum: UInt32, rawLength: Int)] = []
        var data: [UInt8] = []
    }

    static func compress(_ block: EncodedBlock) -> CompressedBlock {
        var compressed = CompressedBlock(block: block)
        compressed.data.reserveCapacity(block.chunks.reduce(0) { $0 + ($1?.count ?? 0) } / 2)
        segmentCompressors.withCompressor { compressor in
            for column in Column.allCases {
                guard let raw = block.chunks[Int(column.rawValue)] else { continue }
                let offset = compressed.data.count
                let length = raw.withUnsafeBytes { compressor.compress($0, level: column.compressionLevel, appendingTo: &compressed.data) }
                let checksum = compressed.data.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + length)])) }
                compressed.chunks.append((column, offset..<(offset + length), checksum, raw.count))
            }
        }
        // The raw chunks are not needed any more; the footer needs only the block's stats.
        compressed.block.chunks = []
        return compressed
    }

    /// Makes room for `count` more bytes of blocks and footer.
    mutating func reserve(_ count: Int) {
        bytes.reserveCapacity(bytes.count + count + SegmentFooter.trailerLength)
    }

    /// Compresses and appends the chunks of one block.
    mutating func append(_ block: EncodedBlock) {
        append(Self.compress(block))
    }

    /// Appends a compressed block after the ones before it.
    mutating func append(_ compressed: CompressedBlock) {
        let block = compressed.block
        let base = bytes.count
        bytes.append(contentsOf: compressed.data)
        let chunks = compressed.chunks.map { column, range, checksum, rawLength in
            let stats = block.stats[Int(column.rawValue)]
            return SegmentFooter.Chunk(
                column: column.rawValue, encoding: column.encoding.rawValue, compression: 1,
                offset: base + range.lowerBound, length: range.count, rawLength: rawLength,
                nullCount: stats?.nulls ?? 0, min: stats?.min ?? [], max: stats?.max ?? [], checksum: checksum)
        }
        blocks.append(SegmentFooter.Block(rows: block.rows, minStartTime: block.minStartTime, maxStartTime: block.maxStartTime,
                                          services: block.services, models: block.models, chunks: chunks))
        rows += block.rows
    }

    /// Appends the footer and trailer; the file is complete.
    consuming func finish(walSequences: ClosedRange<UInt64>?) -> (bytes: [UInt8], footer: SegmentFooter) {
        let footer = SegmentFooter(rows: rows, firstWALSequence: walSequences?.lowerBound ?? 0,
                                   lastWALSequence: walSequences?.upperBound ?? 0, blocks: blocks)
        let footerBytes = footer.encoded(Column.self)
        bytes.append(contentsOf: footerBytes)
        var trailer = ByteWriter(capacity: SegmentFooter.trailerLength)
        trailer.fixed32(UInt32(footerBytes.count))
        trailer.fixed32(CRC32C.checksum(footerBytes))
        withUnsafeBytes(of: SegmentFooter.formatVersion.littleEndian) { trailer.append($0) }
        trailer.append([0, 0])
        trailer.append(SegmentFooter.magic)
        bytes.append(contentsOf: trailer.bytes)
        return (bytes, footer)
    }
}

/// Shared by every segment builder: blocks compress on several threads at once.
private let segmentCompressors = ZstdCompressorPool(maxIdle: 8)

extension SegmentFileBuilder {
    /// A whole segment of `Column`'s kind: `rows`, in segment order, cut into blocks of
    /// `blockRows` and encoded by `encode` on `workers`. `traceIDs` reports the trace ids a row
    /// links to (its own, or its exemplars'); each non-zero one is indexed with the row's block.
    /// `alongside` is other work of the seal, done on `workers` next to the blocks.
    static func segment(_ rows: [RowAddress], blockRows: Int, walSequences: ClosedRange<UInt64>?,
                        workers: BlockWorkers = .callingThread, alongside: (@Sendable () -> Void)? = nil,
                        encode: @escaping @Sendable (ArraySlice<RowAddress>) -> EncodedBlock,
                        traceIDs: (RowAddress, (TraceID) -> Void) -> Void) -> BuiltSegment {
        var file = SegmentFileBuilder()
        var traceBlocks = TraceBlocks()
        let blockRows = max(1, blockRows)
        let starts = Array(stride(from: 0, to: rows.count, by: blockRows))
        for (block, start) in starts.enumerated() {
            for address in rows[start..<min(start + blockRows, rows.count)] {
                traceIDs(address) { traceID in if !traceID.isZero { traceBlocks.add(traceID, block: block) } }
            }
        }
        let compressed = workers.map(starts.count, alongside: alongside) { block in
            compress(encode(rows[starts[block]..<min(starts[block] + blockRows, rows.count)]))
        }
        // The whole file in one allocation: grown block by block, a seal's tens of megabytes were
        // copied again at every doubling, into fresh pages each time.
        file.reserve(compressed.reduce(0) { $0 + $1.data.count + 64 * $1.chunks.count + 128 })
        for block in compressed { file.append(block) }
        let (bytes, footer) = file.finish(walSequences: walSequences)
        return BuiltSegment(kind: Column.segmentKind, bytes: bytes, footer: footer, traceBlocks: traceBlocks.sorted, summaries: [])
    }
}

/// Where the blocks of a segment are encoded and compressed: one after the other on the
/// calling thread, or spread over the threads of a pool (the store's sealing threads, at
/// ``BackgroundPriority``).
package struct BlockWorkers: Sendable {
    private let pool: NIOThreadPool?
    /// Pool threads that help the calling thread.
    private let helpers: Int

    package static let callingThread = BlockWorkers(pool: nil, helpers: 0)

    /// `pool` must be dedicated to background work, and the calling thread one of its threads
    /// (it waits for its helpers); helpers run at ``BackgroundPriority``.
    init(pool: NIOThreadPool?, helpers: Int) {
        self.pool = pool
        self.helpers = helpers
    }

    /// `transform` of every index below `count`, in order, and `alongside` once; computed
    /// concurrently when there are helpers.
    func map<Result>(_ count: Int, alongside: (@Sendable () -> Void)? = nil,
                     _ transform: @escaping @Sendable (Int) -> Result) -> [Result] {
        let tasks = count + (alongside == nil ? 0 : 1)
        guard let pool, helpers > 0, tasks > 1 else {
            alongside?()
            return (0..<count).map(transform)
        }
        let results = ResultSlots<Result>(count: count)
        // Task 0 is `alongside`, if any: taken first, it overlaps the blocks rather than trailing them.
        let first = alongside == nil ? 0 : -1
        let next = Atomic<Int>(first)
        let work: @Sendable () -> Void = {
            while true {
                let index = next.add(1, ordering: .relaxed).oldValue
                guard index < count else { return }
                if index < 0 { alongside?() } else { results.store(transform(index), at: index) }
            }
        }
        let done = DispatchGroup()
        for _ in 0..<min(helpers, tasks - 1) {
            done.enter()
            pool.submit { _ in
                BackgroundPriority.lowerCallingThread()
                work()
                done.leave()
            }
        }
        work()
        done.wait()
        return results.take()
    }
}

/// One slot per result, each written by exactly one thread before `take()`.
final class ResultSlots<Result>: @unchecked Sendable {
    private let slots: UnsafeMutablePointer<Result?>
    private let count: Int

    init(count: Int) {
        self.count = count
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil, count: count)
    }

    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
    }

    func store(_ result: Result, at index: Int) { slots[index] = result }

    func take() -> [Result] { (0..<count).map { slots[$0].take()! } }
}
