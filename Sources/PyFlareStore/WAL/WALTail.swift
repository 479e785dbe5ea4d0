#if canImport(Glibc)
import Glibc
#endif

/// A reader that follows the WAL files as they grow, record by record, for a forwarder: where
/// it is (a file and an offset at a record boundary) and the last sequence it returned.
///
/// Only whole records that pass their checksum are returned; one still being written ends a
/// read and is returned by a later one. Blocking: run it on the store's threads.
struct WALTail: Sendable {
    private(set) var after: UInt64
    private var path: String?
    private var offset = 0

    init(after: UInt64) {
        self.after = after
    }

    /// The records after the last one returned, about `maxBytes` of them (at least one whole
    /// record when one is there).
    mutating func next(directory: String, maxBytes: Int) throws(StoreError) -> [(sequence: UInt64, payload: ArraySlice<UInt8>)] {
        while true {
            let files = WriteAheadLog<WALEntry>.files(in: directory)
            guard !files.isEmpty else { return [] }
            if path == nil || !StoreDirectory.exists(path!) {
                // The file holding the next record: the last one starting at or before it.
                path = (files.last { $0.firstSequence <= after + 1 } ?? files[0]).path
                offset = 0
            }
            let file: StoreFile
            do {
                file = try StoreFile(path: path!)
            } catch where error.errno == ENOENT {
                path = nil
                continue
            }
            let size = try file.size
            if offset >= size {
                // At the end of this file: the next one, if the WAL has moved on to it.
                guard let position = files.firstIndex(where: { $0.path == path }), position + 1 < files.count else { return [] }
                path = files[position + 1].path
                offset = 0
                continue
            }
            var length = min(size - offset, max(maxBytes, 1 << 20))
            while true {
                let bytes = try file.read(count: length, at: offset)
                let (records, valid) = WALRecord.parse(bytes)
                if valid == 0, length < size - offset {
                    length = size - offset  // one record larger than the read
                    continue
                }
                offset += valid
                let fresh = records.filter { $0.sequence > after }
                if let last = fresh.last { after = last.sequence }
                if fresh.isEmpty, valid > 0 { break }  // only records already forwarded: read on
                return fresh
            }
        }
    }
}
