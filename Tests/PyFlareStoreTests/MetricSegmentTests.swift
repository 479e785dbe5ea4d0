import Foundation
import PyFlareModel
import PyFlareTesting
import PyFlareWire
import Testing
@testable import PyFlareStore

/// The stored form of metric points keeps every field of every point type: the block codec
/// (WAL records and segments), metric segment files (sorted by metric name, cut into blocks,
/// metric names as the footer's second zone map, exemplar traces indexed), and the refusal of
/// damaged or mistaken files.
struct MetricSegmentTests {
    /// A `Metric` message: `data` is field 5 (gauge) or 7 (sum) holding number points.
    static func metric(_ name: String, data: UInt32 = 5, description: String = "", unit: String = "", monotonic: Bool = false,
                       temporality: UInt64 = 0, metadata: KeyValues = [], points: [(inout ProtoWriter) -> Void]) -> (inout ProtoWriter) -> Void {
        { message in
            message.stringField(1, name)
            if !description.isEmpty { message.stringField(2, description) }
            if !unit.isEmpty { message.stringField(3, unit) }
            message.messageField(data) { data in
                for point in points { data.messageField(1, point) }
                if temporality != 0 { data.varintField(2, temporality) }
                if monotonic { data.varintField(3, 1) }
            }
            for (key, value) in metadata { PayloadWriter.keyValue(key, value, field: 12, into: &message) }
        }
    }

    /// An `ExportMetricsServiceRequest`: per resource its `service.name` (none when empty) and its metrics.
    static func payload(_ resources: [(service: String, metrics: [(inout ProtoWriter) -> Void])]) -> [UInt8] {
        var writer = ProtoWriter()
        for resource in resources {
            writer.messageField(1) { resourceMetrics in
                resourceMetrics.messageField(1) { message in
                    if !resource.service.isEmpty { PayloadWriter.keyValue("service.name", .string(resource.service), field: 1, into: &message) }
                }
                resourceMetrics.messageField(2) { scopeMetrics in
                    scopeMetrics.messageField(1) { $0.stringField(1, "extra.meter") }
                    for metric in resource.metrics { scopeMetrics.messageField(2, metric) }
                }
            }
        }
        return writer.bytes
    }

    /// Points the fixture lacks: a service sorting first, a name sorting first that two metrics
    /// of different types share (one without a service), NaN payloads, Int64.min, a point with
    /// no recorded value, an int exemplar linking to a trace.
    static func extraBatch() throws -> MetricBatch {
        try MetricBatch.decodeProtobuf(payload([
            (service: "aaa-metrics", metrics: [
                metric("system.cpu.utilization", points: [
                    { point in
                        point.fixed64Field(3, 100)
                        point.fixed64Field(6, 5)
                        point.messageField(5) { exemplar in
                            exemplar.fixed64Field(2, 99)
                            exemplar.fixed64Field(6, UInt64(bitPattern: -9))
                            exemplar.bytesField(4, PayloadWriter.bigEndian(0x33))
                            exemplar.bytesField(5, t3.bytes)
                            PayloadWriter.keyValue("nested", .keyValueList([("a", .array([.double(.nan), .int(.min)]))]), field: 7, into: &exemplar)
                        }
                    },
                    { point in
                        point.fixed64Field(3, 50)
                        point.fixed64Field(4, 0xFFF8_0000_DEAD_BEEF)
                        PayloadWriter.keyValue("k", .string("v"), field: 7, into: &point)
                    },
                ]),
                metric("aaa.first", data: 7, description: "first", unit: "1", monotonic: true, temporality: 2,
                       metadata: [("meta", .array([.int(1), .bytes([0, 255])]))], points: [
                    { point in
                        point.fixed64Field(2, 1)
                        point.fixed64Field(3, 7)
                        point.fixed64Field(6, UInt64(bitPattern: .min))
                    },
                    { point in
                        point.fixed64Field(3, 8)
                        point.varintField(8, 1)
                    },
                ]),
            ]),
            (service: "", metrics: [
                metric("aaa.first", points: [{ point in
                    point.fixed64Field(3, 9)
                    point.fixed64Field(4, (-0.0).bitPattern)
                }]),
            ]),
        ]))
    }

    /// metrics.pb (20 points of every type), the same points from metrics.json, and ``extraBatch()``.
    static func batches() throws -> [MetricBatch] {
        [try MetricBatch.decodeProtobuf(wireFixture("metrics.pb")), try MetricBatch.decodeJSON(wireFixture("metrics.json")),
         try extraBatch()]
    }

    static let total = 45

    static func service(_ points: MetricBatch, _ row: Int) -> String {
        serviceNames(points, scopes: [points.metrics.scopeIndices[Int(points.metricIndices[row])]])[0]
    }

    @Test func fixtureCoversEveryPointType() throws {
        let batches = try Self.batches()
        #expect(batches.map(\.count) == [20, 20, 5])
        #expect(batches.allSatisfy { $0.rejectedCount == 0 })
        let points = StoredPoint.all(batches)
        #expect(Set(points.map(\.type)) == [.gauge, .sum, .histogram, .exponentialHistogram, .summary])
        #expect(Set(points.map(\.valueKind)) == [0, 1, 2])
        let doubles = points.filter { $0.valueKind == 1 }.map { Double(bitPattern: $0.value) }
        #expect(doubles.contains { $0.isNaN } && doubles.contains(.infinity) && doubles.contains(-.infinity))
        #expect(doubles.contains { $0 == 0 && $0.sign == .minus })
        let ints = points.filter { $0.valueKind == 2 }.map { Int64(bitPattern: $0.value) }
        #expect(ints.contains(.min) && ints.contains(.max))
        #expect(points.contains { $0.sum == nil } && points.contains { $0.sum != nil })
        #expect(points.contains { $0.max.map { Double(bitPattern: $0).isNaN } == true })
        #expect(points.contains { !$0.bucketCounts.isEmpty && !$0.explicitBounds.isEmpty })
        #expect(points.contains { !$0.negativeBucketCounts.isEmpty && $0.scale != 0 })
        #expect(points.contains { !$0.quantiles.isEmpty })
        let exemplars = points.flatMap(\.exemplars)
        #expect(exemplars.contains { !$0.traceID.isZero && $0.spanID != 0 })
        #expect(Set(exemplars.map(\.valueKind)).isSuperset(of: [1, 2]))
        #expect(points.contains { $0.metadata != .keyValueList([]) })
        let services = Set(batches.flatMap { batch in (0..<batch.count).map { Self.service(batch, $0) } })
        #expect(services == ["", "support-bot", "aaa-metrics"])
    }

    @Test func blockCodecKeepsEveryFieldInAnyRowOrder() throws {
        let batches = try Self.batches()
        let encoder = MetricBlockEncoder(batches)
        let all = encoder.allRows
        #expect(all.count == Self.total)
        for rows in [all, Array(all.reversed()), all.enumerated().filter { $0.offset % 3 == 2 }.map(\.element), [all[44]], []] {
            let block = encoder.encode(rows)
            #expect(block.rows == rows.count)
            let decoded = try BlockDecoder(block).decodeMetricBatch()
            #expect(decoded.count == rows.count)
            expectSameRows(StoredPoint.all([decoded]), rows.map { StoredPoint(batches[Int($0.batch)], Int($0.row)) }, "\(rows.count) rows")
            let originals = rows.map { StoredPoint(batches[Int($0.batch)], Int($0.row)) }
            #expect(block.minStartTime == (originals.map(\.time).min() ?? 0))
            #expect(block.maxStartTime == (originals.map(\.time).max() ?? 0))
            #expect(block.models == Set(originals.map(\.name)).sorted())
            let services = rows.map { Self.service(batches[Int($0.batch)], Int($0.row)) }
            #expect(block.services == Set(services.filter { !$0.isEmpty }).sorted())
            // Points of one metric share a metric row.
            #expect(decoded.metrics.count <= Set(originals.map { "\($0.owner)|\($0.name)|\($0.type)|\($0.metadata)" }).count)
        }
    }

    @Test func segmentRoundTripSortsCutsAndIndexes() throws {
        let files = try SegmentFiles()
        defer { files.remove() }
        let batches = try Self.batches()
        let built = MetricSegmentWriter(blockRows: 5).build(batches, walSequences: 8...8)
        #expect(built.kind == .metricPoints)
        #expect(built.summaries.isEmpty)
        #expect(Array(built.bytes[0..<8]) == Array("PFSG".utf8) + [1, 0, 2, 0])
        let reader = try files.open(built)
        #expect(reader.kind == .metricPoints)
        #expect(reader.footer == built.footer)
        #expect(reader.footer.rows == Self.total)
        #expect(reader.footer.blocks.map(\.rows) == Array(repeating: 5, count: 9))
        #expect(reader.footer.firstWALSequence == 8 && reader.footer.lastWALSequence == 8)

        // Rows come back sorted by metric name, service (none first), time, arrival.
        var expected: [(name: String, service: String, time: UInt64, index: Int, point: StoredPoint)] = []
        for batch in batches {
            for row in 0..<batch.count {
                let point = StoredPoint(batch, row)
                expected.append((point.name, Self.service(batch, row), point.time, expected.count, point))
            }
        }
        expected.sort { ($0.name, $0.service, $0.time, $0.index) < ($1.name, $1.service, $1.time, $1.index) }
        let decoded = try reader.verifyMetrics()
        expectSameRows(StoredPoint.all(decoded), expected.map(\.point), "segment")
        #expect(try reader.verifyRows(pricing: .builtIn()) == Self.total)
        #expect(reader.footer.models == Set(expected.map(\.name)).sorted())

        var blocksOfTrace: [TraceID: [Int]] = [:]
        for (index, (block, batch)) in zip(reader.footer.blocks, decoded).enumerated() {
            let points = StoredPoint.all([batch])
            #expect(block.minStartTime == points.map(\.time).min() && block.maxStartTime == points.map(\.time).max(), "block \(index)")
            #expect(block.models == Set(points.map(\.name)).sorted(), "block \(index)")
            let services = (0..<batch.count).map { Self.service(batch, $0) }
            #expect(block.services == Set(services.filter { !$0.isEmpty }).sorted())
            #expect(block.chunks.map(\.column) == MetricColumn.allCases.map(\.rawValue))
            #expect(block.chunks.map(\.encoding) == MetricColumn.allCases.map(\.encoding.rawValue))
            let time = try #require(block.chunk(MetricColumn.time))
            #expect(time.min == withUnsafeBytes(of: batch.times.min()!.littleEndian) { Array($0) })
            #expect(time.max == withUnsafeBytes(of: batch.times.max()!.littleEndian) { Array($0) })
            let name = try #require(block.chunk(MetricColumn.metricName))
            #expect(name.min == Array(block.models.first!.utf8) && name.max == Array(block.models.last!.utf8))
            #expect(block.chunk(MetricColumn.sum)?.nullCount == points.filter { $0.sum == nil }.count)
            for traceID in Set(points.flatMap(\.exemplars).map(\.traceID)) where !traceID.isZero {
                blocksOfTrace[traceID, default: []].append(index)
            }
        }
        #expect(!blocksOfTrace.isEmpty)
        #expect(built.traceBlocks.map(\.traceID) == blocksOfTrace.keys.sorted())
        for (traceID, blocks) in built.traceBlocks { #expect(blocksOfTrace[traceID] == blocks, "trace \(Hex.string(traceID))") }
    }

    @Test(arguments: [1, 4, 20, 45, 1000])
    func blocksAreCutAtBlockRows(blockRows: Int) throws {
        let files = try SegmentFiles()
        defer { files.remove() }
        let batches = try Self.batches()
        let reader = try files.open(MetricSegmentWriter(blockRows: blockRows).build(batches))
        var sizes = Array(repeating: blockRows, count: Self.total / blockRows)
        if Self.total % blockRows != 0 { sizes.append(Self.total % blockRows) }
        #expect(reader.footer.blocks.map(\.rows) == sizes)
        let decoded = StoredPoint.all(try reader.verifyMetrics())
        #expect(decoded.count == Self.total)
        for point in StoredPoint.all(batches) { #expect(decoded.contains(point)) }
    }

    @Test func anEmptyMetricSegmentRoundTrips() throws {
        let files = try SegmentFiles()
        defer { files.remove() }
        let built = MetricSegmentWriter(blockRows: 4).build([])
        let reader = try files.open(built)
        #expect(reader.kind == .metricPoints && reader.footer.rows == 0 && reader.footer.blocks.isEmpty)
        #expect(try reader.verifyMetrics().isEmpty && built.traceBlocks.isEmpty)
    }

    @Test func aFlippedByteInAnyChunkIsRefusedNamingBlockAndColumn() throws {
        let files = try SegmentFiles()
        defer { files.remove() }
        let built = MetricSegmentWriter(blockRows: 16).build(try Self.batches())
        #expect(built.footer.blocks.count == 3)
        let checked = try expectEveryFlippedChunkByteRefused(built, in: files, MetricColumn.self) { reader, block in
            StoredPoint.all([try reader.metricBatch(block: block)])
        }
        #expect(checked >= 3 * MetricColumn.allCases.count)
    }

    @Test func aDamagedOrMissingChunkIsRefusedNamingTheColumn() throws {
        let encoder = MetricBlockEncoder(try Self.batches())
        let block = encoder.encode(encoder.allRows)
        #expect(try BlockDecoder(block).decodeMetricBatch().count == Self.total)
        expectDamagedChunksRefused(block, MetricColumn.self) { _ = try $0.decodeMetricBatch() }
        // Values a writer never produces.
        func refused(_ column: MetricColumn, _ change: (inout [UInt8]) -> Void) -> String? {
            var bad = block
            change(&bad.chunks[Int(column.rawValue)]!)
            return #expect(throws: ColumnError.self) { try BlockDecoder(bad).decodeMetricBatch() }?.description
        }
        #expect(refused(.metricType) { $0[0] = 9 } == "column type: unknown value 9")
        #expect(refused(.metricType) { $0[0] = 0 } == "column type: unknown value 0")
        #expect(refused(.valueKind) { $0[0] = 3 } == "column value_kind: value 3 exceeds 2")
        #expect(refused(.monotonic) { $0[0] = 2 } == "column is_monotonic: value 2 exceeds 1")
        #expect(refused(.sum) { $0[0] = 2 } == "column sum: presence byte 2 is neither 0 nor 1")
        let bounds = try BlockDecoder(block).blobs(MetricColumn.explicitBounds)
        let row = try #require(bounds.firstIndex { !$0.isEmpty })
        #expect(refused(.explicitBounds) { chunk in
            // One byte more in a row (its length varint and the data), so it is not whole doubles.
            chunk[row] += 1
            chunk.append(0)
        } == "column explicit_bounds: row of \(bounds[row].count + 1) bytes is not a whole number of doubles")
    }

    @Test func aSegmentIsReadOnlyAsItsOwnKind() throws {
        let files = try SegmentFiles()
        defer { files.remove() }
        let metrics = try files.open(MetricSegmentWriter(blockRows: 8).build(try Self.batches()), name: "metrics.seg")
        let pricing = PricingTable.builtIn()
        #expect(storeError { try metrics.batch(block: 0, pricing: pricing) }?.message == "segment holds metric_points, not spans")
        #expect(storeError { try metrics.verify(pricing: pricing) }?.code == .corrupt)
        #expect(storeError { try metrics.logBatch(block: 0) }?.message == "segment holds metric_points, not logs")
        #expect(storeError { try metrics.verifyLogs() }?.code == .corrupt)

        let logs = try files.open(LogSegmentWriter(blockRows: 8).build(try LogSegmentTests.batches()), name: "logs.seg")
        #expect(storeError { try logs.metricBatch(block: 0) }?.message == "segment holds logs, not metric_points")
        let spans = try files.open(SegmentWriter(blockRows: 4, pricing: pricing).build(try richBatches()), name: "spans.seg")
        #expect(storeError { try spans.metricBatch(block: 0) }?.message == "segment holds spans, not metric_points")
        #expect(storeError { try spans.verifyMetrics() }?.code == .corrupt)
    }

    @Test func inspectionReportsAndScansMetricSegments() throws {
        let files = try SegmentFiles()
        defer { files.remove() }
        let reader = try files.open(MetricSegmentWriter(blockRows: 10).build(try Self.batches()))
        let report = try SegmentInspection.report(path: reader.path, verify: true)
        #expect(report.contains("metric_points segment, 45 points in 5 blocks"))
        #expect(report.contains("metric names: aaa.first, gen_ai.client.operation.duration"))
        #expect(report.contains("services: aaa-metrics, support-bot"))
        for column in MetricColumn.allCases { #expect(report.contains(column.name)) }
        #expect(report.contains("verified: every chunk's checksum holds and 45 points decode"))

        let names = MetricColumn.allCases.map(\.name)
        let scan = try SegmentInspection.scan(paths: [reader.path], columns: names)
        #expect(scan.rows == Self.total && scan.blocks == 5)
        #expect(throws: StoreError.self) { try SegmentInspection.scan(paths: [reader.path], columns: ["severity_number"]) }
    }
}
