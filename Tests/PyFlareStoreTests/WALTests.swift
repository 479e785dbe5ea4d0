import Foundation
import PyFlareTesting
import Synchronization
import Testing
@testable import PyFlareStore

/// A bit-at-a-time CRC-32C, to check the table-driven one against.
func referenceCRC32C(_ bytes: some Sequence<UInt8>, seed: UInt32 = 0) -> UInt32 {
    var crc = ~seed
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
    }
    return ~crc
}

struct CRC32CTests {
    @Test func knownVectors() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
        // RFC 3720 (iSCSI), appendix B.4.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).reversed().map { UInt8($0) }) == 0x113F_DB5C)
        #expect(referenceCRC32C(Array("123456789".utf8)) == 0xE306_9283)
    }

    @Test func chainingWithASeedEqualsOneShot() {
        var random = SeededGenerator(seed: 7)
        let data = (0..<1_000).map { _ in UInt8.random(in: 0...255, using: &random) }
        let whole = CRC32C.checksum(data)
        #expect(whole == referenceCRC32C(data))
        for split in 0...data.count {
            let first = data.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<split])) }
            let chained = data.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[split...]), seed: first) }
            #expect(chained == whole, "split at \(split)")
        }
        // Three pieces.
        let a = CRC32C.checksum(Array(data[0..<10]))
        let b = data.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[10..<517]), seed: a) }
        let c = data.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[517...]), seed: b) }
        #expect(c == whole)
    }

    @Test func everyLengthAndAlignmentMatchesTheReference() {
        var random = SeededGenerator(seed: 8)
        let data = (0..<80).map { _ in UInt8.random(in: 0...255, using: &random) }
        for start in 0..<8 {
            for end in start...data.count {
                let fast = data.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[start..<end])) }
                let software = data.withUnsafeBytes { CRC32C.softwareChecksum(UnsafeRawBufferPointer(rebasing: $0[start..<end]), seed: 0x1234) }
                let softwareSeeded = data.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[start..<end]), seed: 0x1234) }
                #expect(fast == referenceCRC32C(data[start..<end]), "\(start)..<\(end)")
                #expect(software == softwareSeeded, "both paths agree with a seed, \(start)..<\(end)")
            }
        }
    }
}

struct WALRecordTests {
    func sampleRecords() -> [(sequence: UInt64, payload: [UInt8])] {
        var random = SeededGenerator(seed: 3)
        return [
            (1, []),
            (2, [0x42]),
            (3, (0..<300).map { _ in UInt8.random(in: 0...255, using: &random) }),
            (7, Array("a WAL record".utf8)),
            (1 << 40, [UInt8](repeating: 0, count: 16)),
            (.max, (0..<70_000).map { UInt8(truncatingIfNeeded: $0) }),
        ]
    }

    func framed(_ records: [(sequence: UInt64, payload: [UInt8])]) -> (bytes: [UInt8], ends: [Int]) {
        var bytes: [UInt8] = []
        var ends: [Int] = []
        for record in records {
            WALRecord.frame(sequence: record.sequence, payload: record.payload, into: &bytes)
            ends.append(bytes.count)
        }
        return (bytes, ends)
    }

    @Test func frameAndParseRoundTrip() {
        let records = sampleRecords()
        let (bytes, ends) = framed(records)
        #expect(ends.last == records.reduce(0) { $0 + WALRecord.headerLength + $1.payload.count })
        let parsed = WALRecord.parse(bytes)
        #expect(parsed.validLength == bytes.count)
        #expect(parsed.records.map(\.sequence) == records.map(\.sequence))
        #expect(parsed.records.map { Array($0.payload) } == records.map(\.payload))
        // The frame layout: length, checksum of sequence + payload, sequence, payload.
        #expect(Array(bytes[0..<4]) == [0, 0, 0, 0])
        #expect(Array(bytes[8..<16]) == [1, 0, 0, 0, 0, 0, 0, 0])
        let second = ends[0]
        #expect(Array(bytes[second..<(second + 4)]) == [1, 0, 0, 0])
        var checked = Array(bytes[(second + 8)..<(second + 16)]) + [0x42]
        #expect(bytes[(second + 4)..<(second + 8)].elementsEqual(withUnsafeBytes(of: CRC32C.checksum(checked).littleEndian) { Array($0) }))
        checked[0] ^= 1
        #expect(!bytes[(second + 4)..<(second + 8)].elementsEqual(withUnsafeBytes(of: CRC32C.checksum(checked).littleEndian) { Array($0) }))
    }

    @Test func everyTruncationKeepsExactlyTheCompleteRecordsBeforeIt() {
        let records = Array(sampleRecords().prefix(5)) + [(9, [1, 2, 3])]
        let (bytes, ends) = framed(records)
        for cut in 0...bytes.count {
            let complete = ends.filter { $0 <= cut }
            let parsed = WALRecord.parse(Array(bytes[0..<cut]))
            #expect(parsed.records.count == complete.count, "cut at \(cut)")
            #expect(parsed.validLength == (complete.last ?? 0), "cut at \(cut)")
            #expect(parsed.records.map(\.sequence) == records.prefix(complete.count).map(\.sequence))
            #expect(parsed.records.map { Array($0.payload) } == records.prefix(complete.count).map(\.payload))
        }
    }

    @Test func aFlippedByteStopsParsingAtItsRecord() {
        let records = Array(sampleRecords().prefix(5)) + [(9, [1, 2, 3])]
        let (bytes, ends) = framed(records)
        for position in bytes.indices {
            for mask: UInt8 in [0x01, 0x80] {
                var damaged = bytes
                damaged[position] ^= mask
                let record = ends.firstIndex { position < $0 }!
                let parsed = WALRecord.parse(damaged)
                #expect(parsed.records.count == record, "byte \(position)")
                #expect(parsed.validLength == (record == 0 ? 0 : ends[record - 1]), "byte \(position)")
                #expect(parsed.records.map(\.sequence) == records.prefix(record).map(\.sequence))
            }
        }
    }

    @Test func implausibleLengthsStopParsing() {
        var bytes: [UInt8] = []
        WALRecord.frame(sequence: 1, payload: [1, 2], into: &bytes)
        let good = bytes.count
        // A header claiming 2 GiB, then zeros.
        bytes += [0, 0, 0, 0x80] + [UInt8](repeating: 0, count: 40)
        let parsed = WALRecord.parse(bytes)
        #expect(parsed.records.count == 1)
        #expect(parsed.validLength == good)
        // Zeros after a record (a preallocated or zero-filled tail) are not a record.
        let zeros = WALRecord.parse([UInt8](repeating: 0, count: 64))
        #expect(zeros.records.isEmpty && zeros.validLength == 0)
    }
}

/// What a WAL reported durable, in order.
final class DurableRecords: Sendable {
    let records = Mutex<[(sequence: UInt64, item: Int)]>([])
}

struct WriteAheadLogTests {
    typealias Log = WriteAheadLog<Int>

    func makeLog(_ directory: String, syncMode: WALSyncMode = .never, maxFileBytes: Int = 64 << 20, nextSequence: UInt64 = 1,
                 durable: DurableRecords? = nil) -> Log {
        Log(configuration: .init(directory: directory, syncMode: syncMode, syncInterval: .milliseconds(50), maxFileBytes: maxFileBytes),
            nextSequence: nextSequence) { records in
            durable?.records.withLock { $0.append(contentsOf: records) }
        }
    }

    func payload(_ index: Int) -> [UInt8] {
        Array("record \(index) ".utf8) + [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: index % 97)
    }

    func fileSequences(_ directory: String) -> [UInt64] {
        Log.files(in: directory).map(\.firstSequence)
    }

    @Test(arguments: [WALSyncMode.never, .always])
    func concurrentAppendsAreAllRecoveredInOrder(syncMode: WALSyncMode) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let durable = DurableRecords()
        let wal = makeLog(directory.path, syncMode: syncMode, maxFileBytes: 2_048, durable: durable)
        // Waves of concurrent appends: within a wave they share group commits; a file is
        // started between groups once the active one is past its size.
        let count = 300, wave = 30
        var assigned: [UInt64: Int] = [:]
        for first in stride(from: 0, to: count, by: wave) {
            try await withThrowingTaskGroup(of: (Int, UInt64).self) { group in
                for index in first..<(first + wave) {
                    group.addTask { (index, try await wal.append(payload(index), item: index)) }
                }
                for try await (index, sequence) in group { assigned[sequence] = index }
            }
        }
        try await wal.close()

        #expect(assigned.count == count)
        #expect(Set(assigned.keys) == Set(1...UInt64(count)))
        // Each group was reported durable once, in sequence order, with its items.
        let reported = durable.records.withLock { $0 }
        #expect(reported.map(\.sequence) == Array(1...UInt64(count)))
        #expect(reported.allSatisfy { assigned[$0.sequence] == $0.item })

        let recovery = try Log.recover(directory: directory.path, after: 0)
        #expect(recovery.truncated.isEmpty)
        #expect(recovery.highestSequence == UInt64(count))
        #expect(recovery.records.map(\.sequence) == Array(1...UInt64(count)))
        for record in recovery.records {
            #expect(Array(record.payload) == payload(assigned[record.sequence]!), "record \(record.sequence)")
        }
        // Files were started as they filled, each named after its first record.
        let files = Log.files(in: directory.path)
        #expect(files.count > 1)
        for file in files {
            let records = WALRecord.parse(try readFile(file.path)).records
            #expect(records.first?.sequence == file.firstSequence, "\(file.path)")
        }
        // Recovery after a sealed position skips what is sealed.
        let after = try Log.recover(directory: directory.path, after: 120)
        #expect(after.records.map(\.sequence) == Array(121...UInt64(count)))
        #expect(after.skippedSealed == 120)
        #expect(after.highestSequence == UInt64(count))
    }

    @Test func appendsAfterCloseAreRefused() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let wal = makeLog(directory.path, nextSequence: 41)
        #expect(try await wal.append([1], item: 1) == 41)
        #expect(try await wal.append([2], item: 2) == 42)
        try await wal.close()
        let error = await #expect(throws: StoreError.self) { try await wal.append([3], item: 3) }
        #expect(error?.code == .closed)
        #expect(fileSequences(directory.path) == [41])
        #expect(try Log.recover(directory: directory.path, after: 0).records.map(\.sequence) == [41, 42])
    }

    @Test func rotateStartsANewFileAndReclaimDeletesOnlyFullySealedFiles() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let wal = makeLog(directory.path)
        _ = try await wal.append(payload(1), item: 1)
        _ = try await wal.append(payload(2), item: 2)
        wal.rotate()
        _ = try await wal.append(payload(3), item: 3)
        _ = try await wal.append(payload(4), item: 4)
        #expect(fileSequences(directory.path) == [1, 3])
        wal.rotate()
        wal.rotate()
        _ = try await wal.append(payload(5), item: 5)
        #expect(fileSequences(directory.path) == [1, 3, 5])

        #expect(try await wal.reclaim(upTo: 0) == 0)
        #expect(try await wal.reclaim(upTo: 1) == 0) // file 1 still holds record 2
        #expect(fileSequences(directory.path) == [1, 3, 5])
        #expect(try await wal.reclaim(upTo: 2) == 1)
        #expect(fileSequences(directory.path) == [3, 5])
        #expect(try await wal.reclaim(upTo: 3) == 0) // file 3 still holds record 4
        #expect(try await wal.reclaim(upTo: 4) == 1)
        #expect(fileSequences(directory.path) == [5])
        // The active file stays, even when all its records are sealed.
        #expect(try await wal.reclaim(upTo: 100) == 0)
        #expect(fileSequences(directory.path) == [5])

        // The log keeps appending to its active file.
        _ = try await wal.append(payload(6), item: 6)
        try await wal.close()
        let recovery = try Log.recover(directory: directory.path, after: 4)
        #expect(recovery.records.map(\.sequence) == [5, 6])
        #expect(fileSequences(directory.path) == [5])
    }

    @Test func recoveryCutsTornTailsAndKeepsEarlierRecords() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var first: [UInt8] = [], second: [UInt8] = []
        for sequence in 1...3 { WALRecord.frame(sequence: UInt64(sequence), payload: payload(sequence), into: &first) }
        for sequence in 4...5 { WALRecord.frame(sequence: UInt64(sequence), payload: payload(sequence), into: &second) }
        let good = second.count
        var torn: [UInt8] = []
        WALRecord.frame(sequence: 6, payload: payload(6), into: &torn)
        second += torn.prefix(torn.count - 3)
        try writeFile(Log.path(directory: directory.path, firstSequence: 1), first)
        try writeFile(Log.path(directory: directory.path, firstSequence: 4), second)

        let recovery = try Log.recover(directory: directory.path, after: 0)
        #expect(recovery.records.map(\.sequence) == [1, 2, 3, 4, 5])
        #expect(recovery.records.map { Array($0.payload) } == (1...5).map(payload))
        #expect(recovery.highestSequence == 5)
        #expect(recovery.truncated.count == 1)
        #expect(recovery.truncated.first?.path == Log.path(directory: directory.path, firstSequence: 4))
        #expect(recovery.truncated.first?.droppedBytes == torn.count - 3)
        #expect(try readFile(Log.path(directory: directory.path, firstSequence: 4)) == Array(second.prefix(good)))
        #expect(try readFile(Log.path(directory: directory.path, firstSequence: 1)) == first)

        // A second recovery finds nothing to cut.
        let again = try Log.recover(directory: directory.path, after: 2)
        #expect(again.truncated.isEmpty)
        #expect(again.records.map(\.sequence) == [3, 4, 5])
        #expect(again.skippedSealed == 2)
    }

    @Test func recoveryAtEveryTruncationPointOfAFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var bytes: [UInt8] = []
        var ends: [Int] = []
        for sequence in 1...4 {
            WALRecord.frame(sequence: UInt64(sequence), payload: payload(sequence * 10), into: &bytes)
            ends.append(bytes.count)
        }
        let path = Log.path(directory: directory.path, firstSequence: 1)
        for cut in 0...bytes.count {
            try writeFile(path, Array(bytes[0..<cut]))
            let complete = ends.filter { $0 <= cut }
            let recovery = try Log.recover(directory: directory.path, after: 0)
            #expect(recovery.records.map(\.sequence) == (0..<complete.count).map { UInt64($0 + 1) }, "cut at \(cut)")
            #expect(try readFile(path).count == (complete.last ?? 0), "cut at \(cut)")
            #expect(recovery.truncated.count == (cut == (complete.last ?? 0) ? 0 : 1))
        }
    }

    @Test func walFileNamesSortByFirstSequence() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = Log.path(directory: directory.path, firstSequence: 42)
        #expect(path == directory.path + "/00000000000000000042.wal")
        for sequence: UInt64 in [10, 9, 100, 1, .max] {
            try writeFile(Log.path(directory: directory.path, firstSequence: sequence), [])
        }
        try writeFile(directory.path + "/notes.txt", [])
        try writeFile(directory.path + "/abc.wal", [])
        #expect(fileSequences(directory.path) == [1, 9, 10, 100, .max])
    }
}
