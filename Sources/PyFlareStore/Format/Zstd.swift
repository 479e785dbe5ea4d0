import CZstd
import Synchronization

/// One-shot zstd compression of a column chunk or WAL record (the system libzstd).
enum Zstd {
    /// Appends `input` compressed at `level` to `output`; returns the compressed length.
    /// One-off compressions only: a writer compressing many chunks keeps a `ZstdCompressor`.
    @discardableResult
    static func compress(_ input: UnsafeRawBufferPointer, level: Int32, appendingTo output: inout [UInt8]) -> Int {
        ZstdCompressor().compress(input, level: level, appendingTo: &output)
    }

    static func compress(_ input: [UInt8], level: Int32) -> [UInt8] {
        var output: [UInt8] = []
        input.withUnsafeBytes { _ = compress($0, level: level, appendingTo: &output) }
        return output
    }

    /// Decompresses a frame that must expand to exactly `into.count` bytes.
    static func decompress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws(FormatError) {
        let written = ZSTD_decompress(output.baseAddress, output.count, input.baseAddress, input.count)
        if ZSTD_isError(written) != 0 {
            throw FormatError("zstd: \(String(cString: ZSTD_getErrorName(written)))")
        }
        guard written == output.count else {
            throw FormatError("zstd: \(written) bytes decompressed, \(output.count) expected")
        }
    }

    static func decompress(_ input: UnsafeRawBufferPointer, rawLength: Int) throws(FormatError) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: rawLength)
        try output.withMutableBytes { out throws(FormatError) in try decompress(input, into: out) }
        return output
    }
}

/// A zstd compression context kept across chunks: `ZSTD_compress` builds and frees one per
/// call, which costs as much as compressing a small column chunk, and its multi-megabyte
/// workspace is fresh memory each time. Used by one thread at a time: a writer owns one, or
/// borrows one from a `ZstdCompressorPool`.
package final class ZstdCompressor: @unchecked Sendable {
    private let context: OpaquePointer

    package init() {
        guard let context = ZSTD_createCCtx() else { fatalError("zstd: cannot allocate a compression context") }
        self.context = context
    }

    deinit { ZSTD_freeCCtx(context) }

    /// Appends `input` compressed at `level` to `output`; returns the compressed length.
    @discardableResult
    package func compress(_ input: UnsafeRawBufferPointer, level: Int32, appendingTo output: inout [UInt8]) -> Int {
        let bound = ZSTD_compressBound(input.count)
        let start = output.count
        // Geometric growth: an exact reserve would copy a whole segment being built at every chunk.
        if output.capacity < start + bound { output.reserveCapacity(Swift.max(start + bound, output.capacity * 2)) }
        var written = 0
        output.append(contentsOf: repeatElement(0, count: bound))
        output.withUnsafeMutableBytes { buffer in
            written = ZSTD_compressCCtx(context, buffer.baseAddress! + start, bound, input.baseAddress, input.count, level)
        }
        // Compressing into a buffer of compressBound cannot fail.
        precondition(ZSTD_isError(written) == 0, "zstd: \(String(cString: ZSTD_getErrorName(written)))")
        output.removeLast(bound - written)
        return written
    }
}

/// Idle compressors for concurrent writers: each call borrows one, or makes one when all
/// are busy; at most `maxIdle` are kept.
final class ZstdCompressorPool: Sendable {
    private let idle = Mutex<[ZstdCompressor]>([])
    private let maxIdle: Int

    init(maxIdle: Int = 4) {
        self.maxIdle = maxIdle
    }

    func withCompressor<Result>(_ body: (ZstdCompressor) -> Result) -> Result {
        let compressor = idle.withLock { $0.popLast() } ?? ZstdCompressor()
        defer { idle.withLock { if $0.count < maxIdle { $0.append(compressor) } } }
        return body(compressor)
    }
}
