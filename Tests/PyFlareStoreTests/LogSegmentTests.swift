import Foundation
import PyFlareModel
import PyFlareTesting
import PyFlareWire
import Testing
@testable import PyFlareStore

/// The stored form of log records keeps every field: the block codec (WAL records and
/// segments), log segment files (sorted, cut into blocks, zone maps, trace index), and the
/// refusal of damaged or mistaken files.
struct LogSegmentTests {
    /// An `ExportLogsServiceRequest` of one resource (with `service` unless empty) and one scope.
    static func payload(service: String, records: [(inout ProtoWriter) -> Void]) -> [UInt8] {
        var writer = ProtoWriter()
        writer.messageField(1) { resourceLogs in
            resourceLogs.messageField(1) { resource in
                if !service.isEmpty { PayloadWriter.keyValue("service.name", .string(service), field: 1, into: &resource) }
                PayloadWriter.keyValue("host", .array([.string("h1"), .int(2)]), field: 1, into: &resource)
            }
            resourceLogs.messageField(2) { scopeLogs in
                scopeLogs.messageField(1) { $0.stringField(1, "extra.scope"); $0.stringField(2, "0.1") }
                for record in records { scopeLogs.messageField(2, record) }
                scopeLogs.stringField(3, "https://scope/extra")
            }
        }
        return writer.bytes
    }

    /// Records the fixture lacks: a service sorting first, deep and large bodies, a body of
    /// every value kind, extreme numbers, and a record with nothing set at all.
    static func extraBatch() throws -> LogBatch {
        let everything = Self.payload(service: "aaa-first", records: [
            { record in
                record.fixed64Field(1, baseTime + 5)
                record.fixed64Field(11, baseTime + 6)
                record.varintField(2, 17)
                record.stringField(3, "ERROR")
                record.messageField(5) { PayloadWriter.anyValue(&$0, .keyValueList(everyValueKind)) }
                for (key, value) in largeTextAttributes { PayloadWriter.keyValue(key, value, field: 6, into: &record) }
                record.varintField(7, 3)
                record.fixed32Field(8, 0x301)
                record.bytesField(9, t1.bytes)
                record.bytesField(10, PayloadWriter.bigEndian(0xA1))
                record.stringField(12, "checkout.failed")
            },
            { _ in },
            { record in
                record.fixed64Field(1, baseTime)
                record.messageField(5) { PayloadWriter.anyValue(&$0, .string(longText)) }
                record.bytesField(9, t2.bytes)
            },
            { record in
                record.fixed64Field(1, UnixTime.latestUnsigned)  // the latest time stored
                record.varintField(2, 255)
                record.messageField(5) { PayloadWriter.anyValue(&$0, .double(Double(bitPattern: 0xFFF8_0000_DEAD_BEEF))) }
                PayloadWriter.keyValue("int.min", .int(.min), field: 6, into: &record)
                PayloadWriter.keyValue("neg.zero", .double(-0.0), field: 6, into: &record)
                record.bytesField(10, PayloadWriter.bigEndian(.max))
            },
        ])
        return try LogBatch.decodeProtobuf(everything)
    }

    /// logs.pb (15 records of every kind), the same records from logs.json, and ``extraBatch()``.
    static func batches() throws -> [LogBatch] {
        [try LogBatch.decodeProtobuf(wireFixture("logs.pb")), try LogBatch.decodeJSON(wireFixture("logs.json")), try extraBatch()]
    }

    static func recordTime(_ logs: LogBatch, _ row: Int) -> UInt64 {
        logs.times[row] != 0 ? logs.times[row] : logs.observedTimes[row]
    }

    @Test func fixtureCoversWhatItClaims() throws {
        let batches = try Self.batches()
        #expect(batches.map(\.count) == [15, 15, 4])
        #expect(batches.allSatisfy { $0.rejectedCount == 0 })
        let records = StoredLog.all(batches)
        #expect(Set(records.map { $0.traceID.isZero }) == [true, false])
        #expect(Set(records.map { $0.spanID == 0 }) == [true, false])
        #expect(records.contains { $0.time == 0 && $0.observedTime != 0 })
        #expect(records.contains { $0.time == 0 && $0.observedTime == 0 })
        #expect(records.contains { $0.body == .empty })
        for kind: (AttributeValue) -> Bool in [{ if case .array = $0 { true } else { false } },
                                               { if case .keyValueList = $0 { true } else { false } },
                                               { if case .int = $0 { true } else { false } },
                                               { if case .double = $0 { true } else { false } },
                                               { if case .bytes = $0 { true } else { false } }] {
            #expect(records.contains { kind($0.body) })
        }
        let services = Set(batches.flatMap { serviceNames($0, scopes: $0.scopeIndices) })
        #expect(services == ["", "checkout", "aaa-first"])
    }

    @Test func blockCodecKeepsEveryFieldInAnyRowOrder() throws {
        let batches = try Self.batches()
        let encoder = LogBlockEncoder(batches)
        let all = encoder.allRows
        #expect(all.count == 34)
        for rows in [all, Array(all.reversed()), all.enumerated().filter { $0.offset % 3 == 1 }.map(\.element), [all[30]], []] {
            let block = encoder.encode(rows)
            #expect(block.rows == rows.count)
            let decoded = try BlockDecoder(block).decodeLogBatch()
            #expect(decoded.count == rows.count)
            expectSameRows(StoredLog.all([decoded]), rows.map { StoredLog(batches[Int($0.batch)], Int($0.row)) }, "\(rows.count) rows")
            let times = rows.map { Self.recordTime(batches[Int($0.batch)], Int($0.row)) }
            #expect(block.minStartTime == (times.min() ?? 0))
            #expect(block.maxStartTime == (times.max() ?? 0))
            let services = rows.map { serviceNames(batches[Int($0.batch)], scopes: [batches[Int($0.batch)].scopeIndices[Int($0.row)]])[0] }
            #expect(block.services == Set(services.filter { !$0.isEmpty }).sorted())
            #expect(block.models.isEmpty)
        }
    }

    @Test func segmentRoundTripSortsCutsAndIndexes() throws {
        let files = try SegmentFiles()
        defer { files.remove() }
        let batches = try Self.batches()
        let built = LogSegmentWriter(blockRows: 4).build(batches, walSequences: 3...5)
        #expect(built.kind == .logs)
        #expect(built.summaries.isEmpty)
        #expect(Array(built.bytes[0..<8]) == Array("PFSG".utf8) + [1, 0, 1, 0])
        let reader = try files.open(built)
        #expect(reader.kind == .logs)
        #expect(reader.footer == built.footer)
        #expect(reader.footer.rows == 34)
        #expect(reader.footer.blocks.map(\.rows) == [4, 4, 4, 4, 4, 4, 4, 4, 2])
        #expect(reader.footer.firstWALSequence == 3 && reader.footer.lastWALSequence == 5)

        // Rows come back sorted by service (none first), record time, arrival.
        var expected: [(service: String, time: UInt64, index: Int, log: StoredLog)] = []
        for batch in batches {
            let services = serviceNames(batch, scopes: batch.scopeIndices)
            for row in 0..<batch.count {
                expected.append((services[row], Self.recordTime(batch, row), expected.count, StoredLog(batch, row)))
            }
        }
        expected.sort { ($0.service, $0.time, $0.index) < ($1.service, $1.time, $1.index) }
        let decoded = try reader.verifyLogs()
        expectSameRows(StoredLog.all(decoded), expected.map(\.log), "segment")
        #expect(try reader.verifyRows(pricing: .builtIn()) == 34)

        var blocksOfTrace: [TraceID: [Int]] = [:]
        for (index, (block, batch)) in zip(reader.footer.blocks, decoded).enumerated() {
            let times = (0..<batch.count).map { Self.recordTime(batch, $0) }
            #expect(block.minStartTime == times.min() && block.maxStartTime == times.max(), "block \(index)")
            #expect(block.services == Set(serviceNames(batch, scopes: batch.scopeIndices).filter { !$0.isEmpty }).sorted())
            #expect(block.models.isEmpty)
            #expect(block.chunks.map(\.column) == LogColumn.allCases.map(\.rawValue))
            #expect(block.chunks.map(\.encoding) == LogColumn.allCases.map(\.encoding.rawValue))
            let time = try #require(block.chunk(LogColumn.time))
            #expect(time.min == withUnsafeBytes(of: batch.times.min()!.littleEndian) { Array($0) })
            #expect(time.max == withUnsafeBytes(of: batch.times.max()!.littleEndian) { Array($0) })
            let severity = try #require(block.chunk(LogColumn.severityNumber))
            #expect(severity.min.first == batch.severityNumbers.min() && severity.max.first == batch.severityNumbers.max())
            for traceID in Set(batch.traceIDs) where !traceID.isZero { blocksOfTrace[traceID, default: []].append(index) }
        }
        #expect(built.traceBlocks.map(\.traceID) == blocksOfTrace.keys.sorted())
        for (traceID, blocks) in built.traceBlocks { #expect(blocksOfTrace[traceID] == blocks, "trace \(Hex.string(traceID))") }
        // Bodies go to the column compressed harder.
        #expect(LogColumn.body.compressionLevel > LogColumn.attributes.compressionLevel)
    }

    @Test(arguments: [1, 3, 16, 34, 1000])
    func blocksAreCutAtBlockRows(blockRows: Int) throws {
        let files = try SegmentFiles()
        defer { files.remove() }
        let batches = try Self.batches()
        let reader = try files.open(LogSegmentWriter(blockRows: blockRows).build(batches))
        var sizes = Array(repeating: blockRows, count: 34 / blockRows)
        if 34 % blockRows != 0 { sizes.append(34 % blockRows) }
        #expect(reader.footer.blocks.map(\.rows) == sizes)
        #expect(reader.footer.firstWALSequence == 0 && reader.footer.lastWALSequence == 0)
        let decoded = StoredLog.all(try reader.verifyLogs())
        #expect(decoded.count == 34)
        for log in StoredLog.all(batches) { #expect(decoded.contains(log)) }
    }

    @Test func anEmptyLogSegmentRoundTrips() throws {
        let files = try SegmentFiles()
        defer { files.remove() }
        let built = LogSegmentWriter(blockRows: 4).build([])
        let reader = try files.open(built)
        #expect(reader.kind == .logs && reader.footer.rows == 0 && reader.footer.blocks.isEmpty)
        #expect(try reader.verifyLogs().isEmpty && built.traceBlocks.isEmpty)
    }

    @Test func aFlippedByteInAnyChunkIsRefusedNamingBlockAndColumn() throws {
        let files = try SegmentFiles()
        defer { files.remove() }
        let built = LogSegmentWriter(blockRows: 12).build(try Self.batches())
        #expect(built.footer.blocks.count == 3)
        let checked = try expectEveryFlippedChunkByteRefused(built, in: files, LogColumn.self) { reader, block in
            StoredLog.all([try reader.logBatch(block: block)])
        }
        #expect(checked >= 3 * LogColumn.allCases.count)
    }

    @Test func aDamagedOrMissingChunkIsRefusedNamingTheColumn() throws {
        let encoder = LogBlockEncoder(try Self.batches())
        let block = encoder.encode(encoder.allRows)
        #expect(try BlockDecoder(block).decodeLogBatch().count == 34)
        expectDamagedChunksRefused(block, LogColumn.self) { _ = try $0.decodeLogBatch() }
        // A value of an unknown kind in a body.
        let decoder = BlockDecoder(block)
        let chunkStart = try #require(decoder.ranges[Int(LogColumn.body.rawValue)]).lowerBound
        var unknown = block
        unknown.chunks[Int(LogColumn.body.rawValue)]![try decoder.blobs(LogColumn.body)[0].lowerBound - chunkStart] = 9
        let error = #expect(throws: ColumnError.self) { try BlockDecoder(unknown).decodeLogBatch() }
        #expect(error?.description == "column body: unknown value kind 9")
    }

    @Test func aSegmentIsReadOnlyAsItsOwnKind() throws {
        let files = try SegmentFiles()
        defer { files.remove() }
        let logs = try files.open(LogSegmentWriter(blockRows: 8).build(try Self.batches()), name: "logs.seg")
        let pricing = PricingTable.builtIn()
        for error in [storeError { try logs.batch(block: 0, pricing: pricing) }, storeError { try logs.verify(pricing: pricing) },
                      storeError { try logs.readBlock(0) }] {
            #expect(error?.code == .corrupt)
            #expect(error?.message == "segment holds logs, not spans")
        }
        #expect(storeError { try logs.metricBatch(block: 0) }?.message == "segment holds logs, not metric_points")
        #expect(storeError { try logs.verifyMetrics() }?.code == .corrupt)

        let spans = try files.open(SegmentWriter(blockRows: 4, pricing: pricing).build(try richBatches()), name: "spans.seg")
        #expect(storeError { try spans.logBatch(block: 0) }?.message == "segment holds spans, not logs")
        #expect(storeError { try spans.verifyLogs() }?.code == .corrupt)
        #expect(try spans.verifyRows(pricing: pricing) == 11)
    }

    @Test func inspectionReportsAndScansLogSegments() throws {
        let files = try SegmentFiles()
        defer { files.remove() }
        let reader = try files.open(LogSegmentWriter(blockRows: 10).build(try Self.batches()))
        let report = try SegmentInspection.report(path: reader.path, verify: true)
        #expect(report.contains("logs segment, 34 records in 4 blocks"))
        #expect(report.contains("services: aaa-first, checkout"))
        for column in LogColumn.allCases { #expect(report.contains(column.name)) }
        #expect(!report.contains("large_text"))
        #expect(report.contains("verified: every chunk's checksum holds and 34 records decode"))

        let scan = try SegmentInspection.scan(paths: [reader.path], columns: ["time", "service", "body", "trace_id", "span_id", "severity_number"])
        #expect(scan.rows == 34 && scan.blocks == 4 && scan.compressedBytes > 0)
        #expect(throws: StoreError.self) { try SegmentInspection.scan(paths: [reader.path], columns: ["start_time"]) }
    }
}
