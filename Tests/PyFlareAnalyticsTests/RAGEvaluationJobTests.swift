import Foundation
import GRDB
import Logging
import PyFlareModel
import PyFlareSQL
import PyFlareStore
import PyFlareTesting
import PyFlareWire
import Testing
@testable import PyFlareAnalytics

/// The RAG job on a real store: every shape of documents `SpanText` reads is scored, and a
/// retrieval that sends only ids and scores (as the reference workload does) is dropped by the
/// statement, before its attributes are read into memory.
struct RAGEvaluationJobTests {
    static let documents = ["The Eiffel Tower is a wrought-iron lattice tower in Paris.", "It was completed in 1889."]

    /// The retrieval attributes of each shape, by name.
    static let shapes: [(name: String, attributes: [(String, AttributeValue)])] = [
        ("flattened", documents.enumerated().map { ("retrieval.documents.\($0.offset).document.content", .string($0.element)) }),
        ("native objects", [("gen_ai.retrieval.documents", .array(documents.map { .keyValueList([("id", .string("d")), ("content", .string($0))]) }))]),
        ("JSON objects", [("gen_ai.retrieval.documents", .string(#"[{"id": "kb-1", "page_content": "\#(documents[0])"}, {"id": "kb-2", "text": "\#(documents[1])"}]"#))]),
        ("JSON strings", [("retrieval.documents", .string(#"["\#(documents[0])", "\#(documents[1])"]"#))]),
        ("ids and scores", [("gen_ai.retrieval.documents", .string(#"[{"id": "kb-000001", "score": 0.91}, {"id": "kb-000002", "score": 0.7}]"#))]),
    ]

    func answerSpanID(_ index: Int) -> String { String(repeating: "0", count: 12) + String(0x1000 + index, radix: 16) }

    @Test func everyShapeOfDocumentsIsScoredAndIdsAloneAreNot() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try await SpanStore.open(configuration: SpanStoreConfiguration(dataDirectory: directory.path, walSync: .never),
                                             pricing: .builtIn(), logger: Logger(label: "test"))
        var builder = OTLPPayloadBuilder()
        var random = SeededGenerator(seed: 8)
        for (index, shape) in Self.shapes.enumerated() {
            let trace = random.traceID()
            var retrieval = OTLPPayloadBuilder.Span(traceID: trace, spanID: UInt64(0x100 + index))
            retrieval.startTime = baseTime + UInt64(index) * 60_000_000_000
            retrieval.endTime = retrieval.startTime + 50_000_000
            retrieval.attributes = [("openinference.span.kind", .string("RETRIEVER")), ("input.value", .string("When was the tower completed?"))]
                + shape.attributes
            builder.add(retrieval)
            var answer = OTLPPayloadBuilder.Span(traceID: trace, spanID: UInt64(0x1000 + index))
            answer.startTime = retrieval.endTime + 10_000_000
            answer.endTime = answer.startTime + 500_000_000
            answer.attributes = [("openinference.span.kind", .string("LLM")), ("output.value", .string("It was completed in 1889, in Paris."))]
            builder.add(answer)
        }
        try await store.write([SpanNormalizer(pricing: .builtIn()).normalize(try SpanBatch.decodeProtobuf(builder.payload()))])
        try await store.seal()

        let context = JobContext(pool: store.indexPool, engine: store.sqlEngine(limits: SQLLimits()), now: Int64(baseTime) + UnixTime.hour,
                                 settings: SchedulerSettings(), logger: Logger(label: "test"))
        let outcome = try await RAGEvaluationJob().run(context)
        let scored = try await store.indexPool.read { db in
            try String.fetchSet(db, sql: "SELECT span_id FROM evaluations WHERE name = 'rag.overall'")
        }
        for (index, shape) in Self.shapes.enumerated() {
            #expect(scored.contains(answerSpanID(index)) == (shape.name != "ids and scores"), "\(shape.name)")
        }
        #expect(outcome.rows == 5 * (Self.shapes.count - 1))
        // The statement's own condition: the retrieval with ids alone is not read at all.
        let read = try await EvaluatedSpan.read(Int64(baseTime)..<(Int64(baseTime) + UnixTime.hour), kinds: ["retriever"],
                                                condition: SpanText.documentTextCondition, context)
        #expect(read.count == Self.shapes.count - 1)
        try await store.close()
    }
}
