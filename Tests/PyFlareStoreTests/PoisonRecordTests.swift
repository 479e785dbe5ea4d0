import Foundation
import PyFlareModel
import PyFlareTesting
import PyFlareWire
import Testing
@testable import PyFlareStore

/// What ingest acknowledges stays readable, and a block that turns unreadable costs its own
/// rows only: it is fenced, reported, and every later read moves past it.
struct PoisonRecordTests {
    let pricing = PricingTable.builtIn()

    static func nested(_ depth: Int) -> AttributeValue {
        var value = AttributeValue.string("leaf")
        for level in 0..<depth { value = level.isMultiple(of: 2) ? .array([value]) : .keyValueList([("k", value)]) }
        return value
    }

    @Test func theDeepestNestingIngestAcceptsIsReadBackFromASegment() throws {
        let deepest = SpanBatch.maxValueNesting
        let span = PSpan(traceID: .test(1), spanID: 1, name: "deep", attributes: [("deep", Self.nested(deepest))])
        let batch = try normalized([PResource(attributes: [], scopes: [PScope(name: "s", spans: [span])])])
        #expect(batch.count == 1)
        let built = SegmentWriter(blockRows: 8, pricing: pricing).build([batch], walSequences: 1...1)
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try writeFile(directory.path + "/deep.seg", built.bytes)
        let read = try SegmentReader(path: directory.path + "/deep.seg").batch(block: 0, pricing: pricing)
        #expect(canonicalBySpanID([read]) == canonicalBySpanID([batch]))
        // One level deeper is refused by the decoder, so it is never acknowledged.
        let deeper = PSpan(traceID: .test(1), spanID: 2, name: "deeper", attributes: [("deep", Self.nested(deepest + 1))])
        #expect(throws: WireError.self) {
            try SpanBatch.decodeProtobuf(PayloadWriter.payload([PResource(attributes: [], scopes: [PScope(name: "s", spans: [deeper])])]))
        }
    }

    @Test func aCorruptBlockIsFencedOnceReportedWithoutAPathAndTheOthersStillRead() throws {
        var spans: [PSpan] = []
        for index in 0..<6 {
            spans.append(PSpan(traceID: .test(UInt64(index) + 1), spanID: 0x10 + UInt64(index), name: "span-\(index)",
                               start: baseTime + UInt64(index), end: baseTime + UInt64(index) + 1))
        }
        let batch = try normalized([PResource(attributes: [("service.name", .string("poison"))], scopes: [PScope(name: "s", spans: spans)])])
        let built = SegmentWriter(blockRows: 2, pricing: pricing).build([batch], walSequences: 1...1)
        #expect(built.footer.blocks.count == 3)
        var bytes = built.bytes
        let chunk = built.footer.blocks[1].chunks[0]
        bytes[chunk.offset + chunk.length / 2] ^= 0x40
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/poisoned.seg"
        try writeFile(path, bytes)

        let readers = SegmentReaderCache()
        var kept = 0
        var reports: [String] = []
        for block in 0..<3 {
            switch try readers.readFenced(path, block: block, { try $0.batch(block: block, pricing: pricing) }) {
            case .success(let read): kept += read.count
            case .failure(let fenced):
                #expect(fenced.isNew)
                reports.append(fenced.report)
            }
        }
        #expect(kept == 4)
        #expect(reports.count == 1)
        #expect(reports[0].contains("block 1 of segment poisoned.seg"))
        #expect(!reports[0].contains(directory.path))
        #expect(readers.fence.hasFencedBlocks(path))
        // Fenced now: the next read does not touch the file.
        guard case .failure(let again) = try readers.readFenced(path, block: 1, { _ in Issue.record("read a fenced block") }) else {
            Issue.record("a fenced block was read again")
            return
        }
        #expect(!again.isNew)
        readers.evict([path])
        #expect(!readers.fence.hasFencedBlocks(path))
    }
}
