import CZstd

/// One-shot zstd compression of a column chunk or WAL record (the system libzstd).
enum Zstd {
    /// Appends `input` compressed at `level` to `output`; returns the compressed length.
    @discardableResult
    static func compress(_ input: UnsafeRawBufferPointer, level: Int32, appendingTo output: inout [UInt8]) -> Int {
        let bound = ZSTD_compressBound(input.count)
        let start = output.count
        output.reserveCapacity(start + bound)
        var written = 0
        output.append(contentsOf: repeatElement(0, count: bound))
        output.withUnsafeMutableBytes { buffer in
            written = ZSTD_compress(buffer.baseAddress! + start, bound, input.baseAddress, input.count, level)
        }
        // Compressing into a buffer of compressBound cannot fail.
        precondition(ZSTD_isError(written) == 0, "zstd: \(String(cString: ZSTD_getErrorName(written)))")
        output.removeLast(bound - written)
        return written
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
