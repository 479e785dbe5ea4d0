import Testing
@testable import PyFlareExport

/// The byte-level pieces of the Parquet writer against the examples of the format's
/// specification (`Encodings.md`) and the Thrift compact protocol's rules. That whole files
/// read back exactly is shown by pyarrow, DuckDB and chDB (e2e/test_parquet_export.py).
struct ParquetEncodingTests {
    @Test func bitPackingFollowsTheSpecificationsExample() {
        // Encodings.md: 0 to 7 with bit width 3 pack into 10001000 11000110 11111010.
        var bytes: [UInt8] = []
        RLEBitPackedHybrid.pack([0, 1, 2, 3, 4, 5, 6, 7], bitWidth: 3, into: &bytes)
        #expect(bytes == [0b1000_1000, 0b1100_0110, 0b1111_1010])
    }

    @Test func longRunsAreRLEAndTheRestBitPacked() {
        var bytes: [UInt8] = []
        RLEBitPackedHybrid.encode([0, 0, 0, 0, 0, 0, 0, 0, 1], bitWidth: 1, into: &bytes)
        // 8 zeros: header 8 << 1, the value in one byte; then one group of literals: header 1 << 1 | 1, 0b0000_0001.
        #expect(bytes == [0x10, 0x00, 0x03, 0x01])
        bytes = []
        RLEBitPackedHybrid.encode([1, 0, 1, 1], bitWidth: 1, into: &bytes)
        #expect(bytes == [0x03, 0b0000_1101], "short runs stay literal, padded to a group")
        bytes = []
        RLEBitPackedHybrid.encode(Array(repeating: 300, count: 1000), bitWidth: 9, into: &bytes)
        #expect(bytes == [0xD0, 0x0F, 0x2C, 0x01], "a 1000-run: varint 2000, the value in two bytes")
    }

    @Test func literalGroupsStayWholeBeforeARun() {
        // Three literals, then a long run: the run's first five values fill the literals' group.
        var bytes: [UInt8] = []
        RLEBitPackedHybrid.encode([1, 2, 3] + Array(repeating: 0, count: 20), bitWidth: 2, into: &bytes)
        #expect(bytes == [0x03, 0b0011_1001, 0x00, 0x1E, 0x00], "1, 2, 3 and five zeros in two bytes; then 15 zeros")
    }

    @Test func bitWidths() {
        #expect(RLEBitPackedHybrid.bitWidth(forValuesBelow: 1) == 1)
        #expect(RLEBitPackedHybrid.bitWidth(forValuesBelow: 2) == 1)
        #expect(RLEBitPackedHybrid.bitWidth(forValuesBelow: 3) == 2)
        #expect(RLEBitPackedHybrid.bitWidth(forValuesBelow: 256) == 8)
        #expect(RLEBitPackedHybrid.bitWidth(forValuesBelow: 257) == 9)
    }

    @Test func thriftCompactFieldsListsAndStructs() {
        let bytes = ThriftCompactWriter.message { writer in
            writer.i32(1, 5)                        // delta 1, i32: 0x15, zigzag 10
            writer.i64(20, -1)                      // delta 19: type byte, then the id as zigzag i16 (40), zigzag 1
            writer.string(21, "ab")                 // delta 1, binary: 0x18, length 2
            writer.bool(22, true)                   // the value is the type: 0x11
            writer.i32List(23, [1, 2])              // 0x19, size 2 of i32: 0x25, zigzag 2 and 4
            writer.structure(24) { $0.i32(1, 0) }   // 0x1C, an inner struct restarting its ids, stop
        }
        #expect(bytes == [0x15, 0x0A, 0x06, 0x28, 0x01, 0x18, 0x02, 0x61, 0x62, 0x11, 0x19, 0x25, 0x02, 0x04,
                          0x1C, 0x15, 0x00, 0x00, 0x00])
    }

    @Test func longListsCarryTheirSizeAfterTheHeader() {
        let bytes = ThriftCompactWriter.message { $0.i32List(1, Array(repeating: 0, count: 20)) }
        #expect(Array(bytes.prefix(3)) == [0x19, 0xF5, 20])
    }

    @Test func temporaryNamesAndDays() {
        #expect(ParquetExport.temporary("/out/kind=spans/date=2026-12-07/a.parquet") == "/out/kind=spans/date=2026-12-07/.tmp-a.parquet")
        #expect(ParquetExport.day(0) == "1970-01-01")
        #expect(ParquetExport.day(1_765_065_600_000_000_000 - 1) == "2025-12-06")
    }
}
