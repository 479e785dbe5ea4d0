import Testing
@testable import PyFlareWire

/// The Kafka exporter's cut of a request into one request per trace: every span lands in the
/// request of its trace, with its own resource and scope, and nothing else does.
struct TraceRequestSplitTests {
    /// Per span id: its trace, name, scope name and resource's attribute rows, as decoded.
    func spans(_ request: [UInt8]) throws -> [UInt64: String] {
        let batch = try SpanBatch.decodeProtobuf(request)
        var result: [UInt64: String] = [:]
        for row in 0..<batch.count {
            let scope = Int(batch.scopeIndices[row])
            let resource = Int(batch.scopes.resourceIndices[scope])
            result[batch.spanIDs[row]] = "\(Hex.string(batch.traceIDs[row])) \(batch.string(batch.names[row])) "
                + "\(batch.string(batch.scopes.names[scope])) \(batch.resources.attributes[resource].count)"
        }
        return result
    }

    @Test(arguments: ["full.pb", "genai.pb"])
    func everySpanIsInTheRequestOfItsTrace(fixture: String) throws {
        let request = try Fixtures.bytes(fixture)
        let original = try spans(request)
        let pieces = try TraceRequestSplit.byTrace(request)
        let traces = Set(try SpanBatch.decodeProtobuf(request).traceIDs)
        #expect(pieces.count == traces.count)
        #expect(Set(pieces.map(\.traceID)) == traces)
        var joined: [UInt64: String] = [:]
        for piece in pieces {
            #expect(piece.key == piece.traceID.bytes)
            let decoded = try SpanBatch.decodeProtobuf(piece.request)
            #expect(Set(decoded.traceIDs) == [piece.traceID])
            joined.merge(try spans(piece.request)) { first, _ in first }
        }
        #expect(joined == original)
        // The pieces concatenated are one request again (a repeated field merges): what the receiver stores.
        #expect(try spans(pieces.flatMap(\.request)) == original)
    }

    @Test func onlyTheKeptSpansAreProduced() throws {
        let request = try Fixtures.bytes("full.pb")
        let all = try SpanBatch.decodeProtobuf(request).spanIDs
        let kept = Set(all.enumerated().filter { $0.offset % 2 == 0 }.map(\.element))
        let produced = try TraceRequestSplit.byTrace(request, keeping: kept).flatMap { try SpanBatch.decodeProtobuf($0.request).spanIDs }
        #expect(Set(produced) == kept)
        #expect(produced.count == kept.count)
    }

    @Test func aMalformedRequestIsRefused() throws {
        let request = try Fixtures.bytes("full.pb")
        #expect(throws: (any Error).self) { try TraceRequestSplit.byTrace(Array(request.prefix(request.count / 2))) }
    }
}
