/// The frame of one WAL record: length, checksum, sequence number, payload.
///
/// `[u32 LE payload length][u32 LE CRC-32C of sequence + payload][u64 LE sequence][payload]`.
/// A record whose frame is cut short or whose checksum fails ends the readable log.
enum WALRecord {
    static let headerLength = 16
    /// Larger lengths can only come from a damaged header.
    static let maxPayloadLength = 1 << 30

    static func frame(sequence: UInt64, payload: [UInt8], into out: inout [UInt8]) {
        var header = ByteWriter(capacity: headerLength)
        var sequenceBytes = ByteWriter(capacity: 8)
        sequenceBytes.fixed64(sequence)
        let checksum = payload.withUnsafeBytes { CRC32C.checksum($0, seed: CRC32C.checksum(sequenceBytes.bytes)) }
        header.fixed32(UInt32(payload.count))
        header.fixed32(checksum)
        header.append(sequenceBytes.bytes)
        out.append(contentsOf: header.bytes)
        out.append(contentsOf: payload)
    }

    /// The records of a WAL file's bytes, and where the readable part ends (`bytes.count` when whole).
    static func parse(_ bytes: [UInt8]) -> (records: [(sequence: UInt64, payload: ArraySlice<UInt8>)], validLength: Int) {
        var records: [(UInt64, ArraySlice<UInt8>)] = []
        var offset = 0
        bytes.withUnsafeBytes { raw in
            while raw.count - offset >= headerLength {
                var header = ByteReader(raw, position: offset)
                guard let length = try? Int(header.fixed32()), let checksum = try? header.fixed32(),
                      let sequence = try? header.fixed64(), length <= maxPayloadLength,
                      raw.count - offset - headerLength >= length else { return }
                let sequenceBytes = UnsafeRawBufferPointer(rebasing: raw[(offset + 8)..<(offset + 16)])
                let payload = UnsafeRawBufferPointer(rebasing: raw[(offset + headerLength)..<(offset + headerLength + length)])
                guard CRC32C.checksum(payload, seed: CRC32C.checksum(sequenceBytes)) == checksum else { return }
                records.append((sequence, bytes[(offset + headerLength)..<(offset + headerLength + length)]))
                offset += headerLength + length
            }
        }
        return (records, offset)
    }
}
