import Foundation
import PyFlareModel
import PyFlareTesting
import PyFlareWire
import Testing
@testable import PyFlareStore

// Shared by the log and metric segment tests: the OTLP fixtures of the wire tests, and each
// log record and data point of a batch as an Equatable value holding every field (doubles as
// bit patterns, so NaN payloads, -0.0 and infinities must survive exactly).

/// A protobuf or JSON fixture of `Tests/PyFlareWireTests/Fixtures`.
func wireFixture(_ name: String) throws -> [UInt8] {
    try WireFixtures.bytes(name)
}

/// What a record shares with the others of its scope: the resource and the scope, every field.
struct StoredOwner: Equatable {
    var resourceAttributes: AttributeValue
    var resourceDropped: UInt32
    var resourceSchemaURL: String
    var scopeName: String
    var scopeVersion: String
    var scopeAttributes: AttributeValue
    var scopeDropped: UInt32
    var scopeSchemaURL: String

    init(_ batch: some OTLPBatch, scope: Int) {
        let resource = Int(batch.scopes.resourceIndices[scope])
        resourceAttributes = pairs(batch, batch.attributes, batch.resources.attributes[resource])
        resourceDropped = batch.resources.droppedAttributeCounts[resource]
        resourceSchemaURL = batch.string(batch.resources.schemaURLs[resource])
        scopeName = batch.string(batch.scopes.names[scope])
        scopeVersion = batch.string(batch.scopes.versions[scope])
        scopeAttributes = pairs(batch, batch.attributes, batch.scopes.attributes[scope])
        scopeDropped = batch.scopes.droppedAttributeCounts[scope]
        scopeSchemaURL = batch.string(batch.scopes.schemaURLs[scope])
    }
}

/// Key/value rows as one comparable value (a key/value list), keys and order kept.
func pairs(_ batch: some OTLPBatch, _ table: AttributeTable, _ range: RowRange) -> AttributeValue {
    .keyValueList(batch.keyValues(in: table, range).map { ($0.key, $0.value) })
}

/// Every field of one log record.
struct StoredLog: Equatable, CustomStringConvertible {
    var owner: StoredOwner
    var time: UInt64
    var observedTime: UInt64
    var severityNumber: UInt8
    var severityText: String
    var body: AttributeValue
    var attributes: AttributeValue
    var droppedAttributes: UInt32
    var flags: UInt32
    var traceID: TraceID
    var spanID: UInt64
    var eventName: String

    init(_ logs: LogBatch, _ row: Int) {
        owner = StoredOwner(logs, scope: Int(logs.scopeIndices[row]))
        time = logs.times[row]
        observedTime = logs.observedTimes[row]
        severityNumber = logs.severityNumbers[row]
        severityText = logs.string(logs.severityTexts[row])
        body = logs.value(in: logs.bodies, row: row)
        attributes = pairs(logs, logs.attributes, logs.recordAttributes[row])
        droppedAttributes = logs.droppedAttributeCounts[row]
        flags = logs.flags[row]
        traceID = logs.traceIDs[row]
        spanID = logs.spanIDs[row]
        eventName = logs.string(logs.eventNames[row])
    }

    static func all(_ batches: [LogBatch]) -> [StoredLog] {
        batches.flatMap { batch in (0..<batch.count).map { StoredLog(batch, $0) } }
    }

    var description: String { "\(time)/\(observedTime) sev \(severityNumber) \(body)" }
}

/// Every field of one exemplar.
struct StoredExemplar: Equatable {
    var time: UInt64
    var valueKind: UInt8
    var value: UInt64
    var traceID: TraceID
    var spanID: UInt64
    var attributes: AttributeValue
}

/// Every field of one data point and of its metric.
struct StoredPoint: Equatable, CustomStringConvertible {
    var owner: StoredOwner
    var name: String
    var metricDescription: String
    var unit: String
    var type: MetricType
    var temporality: UInt8
    var monotonic: Bool
    var metadata: AttributeValue
    var startTime: UInt64
    var time: UInt64
    var attributes: AttributeValue
    var flags: UInt32
    var valueKind: UInt8
    var value: UInt64
    var count: UInt64
    var sum: UInt64?
    var min: UInt64?
    var max: UInt64?
    var bucketCounts: [UInt64]
    var explicitBounds: [UInt64]
    var scale: Int32
    var zeroCount: UInt64
    var zeroThreshold: UInt64
    var positiveOffset: Int32
    var positiveBucketCounts: [UInt64]
    var negativeOffset: Int32
    var negativeBucketCounts: [UInt64]
    var quantiles: [[UInt64]]
    var exemplars: [StoredExemplar]

    init(_ points: MetricBatch, _ row: Int) {
        let metric = Int(points.metricIndices[row])
        let metrics = points.metrics
        owner = StoredOwner(points, scope: Int(metrics.scopeIndices[metric]))
        name = points.string(metrics.names[metric])
        metricDescription = points.string(metrics.descriptions[metric])
        unit = points.string(metrics.units[metric])
        type = metrics.types[metric]
        temporality = metrics.temporalities[metric]
        monotonic = metrics.monotonic[metric]
        metadata = pairs(points, points.attributes, metrics.metadata[metric])
        startTime = points.startTimes[row]
        time = points.times[row]
        attributes = pairs(points, points.attributes, points.pointAttributes[row])
        flags = points.flags[row]
        valueKind = points.valueKinds[row]
        value = points.values[row]
        count = points.counts[row]
        sum = points.sums[row]?.bitPattern
        min = points.mins[row]?.bitPattern
        max = points.maxes[row]?.bitPattern
        bucketCounts = points.bucketCounts[row].indices.map { points.uint64Values[$0] }
        explicitBounds = points.explicitBounds[row].indices.map { points.doubleValues[$0].bitPattern }
        scale = points.scales[row]
        zeroCount = points.zeroCounts[row]
        zeroThreshold = points.zeroThresholds[row].bitPattern
        positiveOffset = points.positiveOffsets[row]
        positiveBucketCounts = points.positiveBucketCounts[row].indices.map { points.uint64Values[$0] }
        negativeOffset = points.negativeOffsets[row]
        negativeBucketCounts = points.negativeBucketCounts[row].indices.map { points.uint64Values[$0] }
        quantiles = points.quantiles[row].indices.map {
            [points.quantileValues.quantiles[$0].bitPattern, points.quantileValues.values[$0].bitPattern]
        }
        let table = points.exemplarTable
        exemplars = points.exemplars[row].indices.map {
            StoredExemplar(time: table.times[$0], valueKind: table.valueKinds[$0], value: table.values[$0], traceID: table.traceIDs[$0],
                           spanID: table.spanIDs[$0], attributes: pairs(points, points.exemplarAttributes, table.filteredAttributes[$0]))
        }
    }

    static func all(_ batches: [MetricBatch]) -> [StoredPoint] {
        batches.flatMap { batch in (0..<batch.count).map { StoredPoint(batch, $0) } }
    }

    var description: String { "\(name) @\(time) kind \(valueKind) \(value)" }
}

/// Expects `actual` to equal `expected` row for row, naming the first rows that differ.
func expectSameRows<Row: Equatable>(_ actual: [Row], _ expected: [Row], _ context: String = "",
                                    sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, "\(context): row count", sourceLocation: sourceLocation)
    for (index, (got, want)) in zip(actual, expected).enumerated() where got != want {
        Issue.record("\(context): row \(index) differs\n got: \(got)\nwant: \(want)", sourceLocation: sourceLocation)
    }
}

/// The resource's `service.name` of each record, "" when none.
func serviceNames(_ batch: some OTLPBatch, scopes: [UInt32]) -> [String] {
    scopes.map { scope in
        let resource = Int(batch.scopes.resourceIndices[Int(scope)])
        for (key, value) in batch.keyValues(in: batch.attributes, batch.resources.attributes[resource]) where key == "service.name" {
            if case .string(let name) = value { return name }
        }
        return ""
    }
}

/// Segment files of one kind, written and opened.
struct SegmentFiles {
    let directory: TemporaryDirectory

    init() throws { directory = try TemporaryDirectory() }

    func remove() { directory.remove() }

    func open(_ built: BuiltSegment, name: String = "test.seg") throws -> SegmentReader {
        let path = directory.path + "/" + name
        try writeFile(path, built.bytes)
        return try SegmentReader(path: path)
    }
}

/// Flips a byte at the start, middle and end of every chunk of `built`: reading that block must
/// fail with `corrupt`, naming the block and the column; the block's other columns and the other
/// blocks (decoded to rows by `rows`) must still read. Returns how many flips were checked.
func expectEveryFlippedChunkByteRefused<Column: SegmentColumn, Row: Equatable>(
    _ built: BuiltSegment, in files: SegmentFiles, _: Column.Type, rows: (SegmentReader, Int) throws -> [Row],
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> Int {
    let intact = try files.open(built, name: "intact.seg")
    let expected = try built.footer.blocks.indices.map { try rows(intact, $0) }
    var checked = 0
    for (blockIndex, block) in built.footer.blocks.enumerated() {
        for chunk in block.chunks {
            let column = try #require(Column.allCases.first { $0.rawValue == chunk.column }, sourceLocation: sourceLocation)
            for position in Set([chunk.offset, chunk.offset + chunk.length / 2, chunk.offset + chunk.length - 1]) {
                var flipped = built
                flipped.bytes[position] ^= 0x48
                let reader = try files.open(flipped, name: "flipped.seg")
                let error = storeError({ try rows(reader, blockIndex) }, sourceLocation: sourceLocation)
                #expect(error?.code == .corrupt, "block \(blockIndex) column \(column.name) byte \(position)", sourceLocation: sourceLocation)
                #expect(error?.message.contains("block \(blockIndex), column \(column.name):") == true, "\(String(describing: error))",
                        sourceLocation: sourceLocation)
                #expect(error?.path == reader.path, sourceLocation: sourceLocation)
                let others = Column.allCases.filter { $0 != column }
                #expect(storeError({ try reader.readBlock(blockIndex, of: Column.self, columns: others) }) == nil, sourceLocation: sourceLocation)
                for other in built.footer.blocks.indices where other != blockIndex {
                    expectSameRows(try rows(reader, other), expected[other], "block \(other)", sourceLocation: sourceLocation)
                }
                #expect(storeError({ try reader.verifyRows(pricing: .builtIn()) })?.code == .corrupt, sourceLocation: sourceLocation)
                checked += 1
            }
        }
    }
    return checked
}

/// Each column's chunk of `block` with a byte too many, then missing: `decode` must refuse
/// both with a ``ColumnError`` naming the column.
func expectDamagedChunksRefused<Column: SegmentColumn>(_ block: EncodedBlock, _: Column.Type, decode: (BlockDecoder) throws -> Void,
                                                       sourceLocation: SourceLocation = #_sourceLocation) {
    for column in Column.allCases {
        var longer = block
        longer.chunks[Int(column.rawValue)]?.append(0x01)
        let extra = #expect(throws: ColumnError.self, sourceLocation: sourceLocation) { try decode(BlockDecoder(longer)) }
        #expect(extra?.columnName == column.name, "\(column.name): \(String(describing: extra))", sourceLocation: sourceLocation)
        var absent = block
        absent.chunks[Int(column.rawValue)] = nil
        let missing = #expect(throws: ColumnError.self, sourceLocation: sourceLocation) { try decode(BlockDecoder(absent)) }
        #expect(missing?.description == "column \(column.name): column is missing", sourceLocation: sourceLocation)
    }
}
