/// The value encodings of the Parquet format this writer uses, from its specification
/// (`Encodings.md`): PLAIN, and the RLE / bit-packing hybrid of definition levels and
/// dictionary indices.
enum ParquetEncoding: Int32 {
    case plain = 0
    case rle = 3
    case rleDictionary = 8
}

enum RLEBitPackedHybrid {
    /// Appends `values` (each below 2^`bitWidth`) as runs: a value repeated 8 times or more is
    /// one RLE run (header `count << 1`, the value in ⌈bitWidth/8⌉ bytes, little-endian); the
    /// rest go in bit-packed runs of 8-value groups (header `groups << 1 | 1`, each value's
    /// bits from the least significant bit up). Only the very last group is padded, with zeros
    /// the reader ignores as it knows how many values there are.
    static func encode(_ values: [UInt32], bitWidth: Int, into output: inout [UInt8]) {
        precondition(bitWidth >= 1 && bitWidth <= 32)
        var literals: [UInt32] = []
        func flushLiterals() {
            guard !literals.isEmpty else { return }
            let groups = (literals.count + 7) / 8
            literals += repeatElement(0, count: groups * 8 - literals.count)
            varint(UInt64(groups) << 1 | 1, into: &output)
            pack(literals, bitWidth: bitWidth, into: &output)
            literals.removeAll(keepingCapacity: true)
        }
        var index = 0
        while index < values.count {
            let value = values[index]
            var run = 1
            while index + run < values.count, values[index + run] == value { run += 1 }
            // A run is only worth its own header from 8 values on, and literals stay whole groups.
            if run >= 8, literals.count % 8 == 0 {
                flushLiterals()
                varint(UInt64(run) << 1, into: &output)
                var remaining = value
                for _ in 0..<((bitWidth + 7) / 8) {
                    output.append(UInt8(truncatingIfNeeded: remaining))
                    remaining >>= 8
                }
                index += run
            } else {
                literals.append(value)
                index += 1
            }
        }
        flushLiterals()
    }

    /// `values` (a multiple of 8 of them) packed `bitWidth` bits each, least significant first.
    static func pack(_ values: [UInt32], bitWidth: Int, into output: inout [UInt8]) {
        var accumulator: UInt64 = 0
        var bits = 0
        for value in values {
            accumulator |= UInt64(value) << bits
            bits += bitWidth
            while bits >= 8 {
                output.append(UInt8(truncatingIfNeeded: accumulator))
                accumulator >>= 8
                bits -= 8
            }
        }
        if bits > 0 { output.append(UInt8(truncatingIfNeeded: accumulator)) }
    }

    /// The bits a value below `count` needs; at least 1.
    static func bitWidth(forValuesBelow count: Int) -> Int {
        max(1, Int.bitWidth - max(0, count - 1).leadingZeroBitCount)
    }

    static func varint(_ value: UInt64, into output: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            output.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        output.append(UInt8(value))
    }
}

extension Array where Element == UInt8 {
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}
