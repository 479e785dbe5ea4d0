import Foundation
import GRDB
import PyFlareMigrations
import PyFlareModel
import PyFlareTesting
import PyFlareWire
import Testing
@testable import PyFlareStore

/// `index.db`: the segment catalog, trace locations, and trace summaries with their filters and paging.
struct IndexTests {
    let pricing = PricingTable.builtIn()
    static let second: UInt64 = 1_000_000_000

    struct TraceSpec {
        var id: TraceID
        var service: String
        var start: UInt64
        var duration: UInt64
        var model: String?
        var user: String?
        var session: String?
        var error = false
        var spans = 1
    }

    /// One resource per trace: a root span and `spans - 1` children, the model on the root.
    func resource(_ spec: TraceSpec, firstSpanID: UInt64) -> PResource {
        var spans: [PSpan] = []
        for index in 0..<spec.spans {
            var attributes: KeyValues = []
            if index == 0 {
                if let model = spec.model {
                    attributes += [("gen_ai.request.model", .string(model)), ("gen_ai.usage.input_tokens", .int(1000)),
                                   ("gen_ai.usage.output_tokens", .int(500))]
                }
                if let user = spec.user { attributes.append(("user.id", .string(user))) }
                if let session = spec.session { attributes.append(("session.id", .string(session))) }
            }
            spans.append(PSpan(traceID: spec.id, spanID: firstSpanID + UInt64(index), parentSpanID: index == 0 ? 0 : firstSpanID,
                               name: index == 0 ? "root-\(spec.service)" : "child-\(index)",
                               start: spec.start + UInt64(index), end: index == 0 ? spec.start + spec.duration : spec.start + UInt64(index) + 1,
                               attributes: attributes, statusCode: spec.error && index == spec.spans - 1 ? 2 : 0))
        }
        return PResource(attributes: [("service.name", .string(spec.service))], scopes: [PScope(name: "s", spans: spans)])
    }

    func batch(_ specs: [TraceSpec], firstSpanID: UInt64 = 0x1000) throws -> NormalizedBatch {
        try normalized(specs.enumerated().map { resource($1, firstSpanID: firstSpanID + UInt64($0) * 0x100) })
    }

    // Six traces; T3 and T4 start at the same time.
    let traceT1 = TraceID.test(0x51), traceT2 = TraceID.test(0x52), traceT3 = TraceID(high: 0x7E57_0000_0000_0053, low: 1)
    let traceT4 = TraceID(high: 0x7E57_0000_0000_0053, low: 2), traceT5 = TraceID.test(0x55), traceT6 = TraceID.test(0x56)

    var specs: [TraceSpec] {
        [
            TraceSpec(id: traceT1, service: "web", start: baseTime + 100 * Self.second, duration: 2 * Self.second,
                      model: "gpt-4o", user: "alice", session: "s1", spans: 3),
            TraceSpec(id: traceT2, service: "web", start: baseTime + 200 * Self.second, duration: 10 * Self.second,
                      model: "claude-3-5-sonnet", user: "bob", session: "s2", error: true, spans: 2),
            TraceSpec(id: traceT3, service: "api", start: baseTime + 300 * Self.second, duration: Self.second / 2,
                      user: "alice", session: "s3"),
            TraceSpec(id: traceT4, service: "api", start: baseTime + 300 * Self.second, duration: 30 * Self.second,
                      model: "gpt-4o", user: "carol", error: true, spans: 4),
            TraceSpec(id: traceT5, service: "worker", start: baseTime + 50 * Self.second, duration: Self.second, model: "gpt-4o-mini"),
            TraceSpec(id: traceT6, service: "web-frontend", start: baseTime + 400 * Self.second, duration: Self.second),
        ]
    }

    func makeIndex(_ directory: TemporaryDirectory, name: String = "index.db") throws -> IndexDatabase {
        try IndexDatabase(path: directory.path + "/" + name)
    }

    func ids(_ rows: [TraceSummaryRow]) -> [TraceID] { rows.map(\.traceID) }

    func query(_ change: (inout TraceQuery) -> Void) -> TraceQuery {
        var query = TraceQuery()
        change(&query)
        return query
    }

    @Test func aFreshIndexIsMigratedAndEmpty() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let index = try makeIndex(directory)
        #expect(try await index.segments().isEmpty)
        #expect(try await index.sealedSequence() == 0)
        #expect(try await index.summaries(TraceQuery()).isEmpty)
        #expect(try await index.locations(of: traceT1).isEmpty)
        // Opening it again applies nothing twice.
        _ = try makeIndex(directory)
        let applied = try await index.pool.read { db in try String.fetchAll(db, sql: "SELECT name FROM schema_migrations ORDER BY name") }
        #expect(applied == IndexMigration.all.map(\.name))
        // A file that is not a database is refused with `.database`.
        try writeFile(directory.path + "/garbage.db", Array(repeating: 0x5A, count: 8_192))
        let error = storeError { try IndexDatabase(path: directory.path + "/garbage.db") }
        #expect(error?.code == .database)
    }

    @Test func recordsSegmentsAndLocatesTraces() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let index = try makeIndex(directory)
        let built = SegmentWriter(blockRows: 3, pricing: pricing).build([try batch(specs)], walSequences: 1...5)
        let id = try await index.recordSegment(path: "segments/a.seg", segment: built, bytesOnDisk: built.bytes.count)
        #expect(try await index.sealedSequence() == 5)
        let segments = try await index.segments()
        #expect(segments.map(\.id) == [id])
        #expect(segments.map(\.path) == ["segments/a.seg"])
        #expect(segments.map(\.state.rawValue) == ["active"])

        for (traceID, blocks) in built.traceBlocks {
            let locations = try await index.locations(of: traceID)
            #expect(locations.map(\.path) == Array(repeating: "segments/a.seg", count: blocks.count))
            #expect(locations.map(\.block) == blocks)
        }
        #expect(built.traceBlocks.contains { $0.blocks.count > 1 }, "a trace spans several blocks")
        #expect(try await index.locations(of: .test(0xFFFF)).isEmpty)

        // The segment row describes the file.
        let row = try await index.pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM segments WHERE id = ?", arguments: [id])!
        }
        #expect(row["rows"] as Int == 12)
        #expect(row["blocks"] as Int == 4)
        #expect(row["bytes_on_disk"] as Int == built.bytes.count)
        #expect(row["bytes_raw"] as Int == built.footer.rawBytes)
        #expect(row["format_version"] as Int == 1)
        #expect(row["first_wal_lsn"] as Int64 == 1 && row["last_wal_lsn"] as Int64 == 5)
        #expect(row["min_time_ns"] as Int64 == Int64(baseTime + 50 * Self.second))
        #expect(row["max_time_ns"] as Int64 == Int64(baseTime + 400 * Self.second))
        #expect(row["services"] as String == #"["api","web","web-frontend","worker"]"#)
        #expect(row["models"] as String == #"["claude-3-5-sonnet","gpt-4o","gpt-4o-mini"]"#)

        // Older segments do not move the sealed position back; segments not from the WAL do not move it.
        let older = SegmentWriter(blockRows: 3, pricing: pricing).build([try batch([specs[0]], firstSpanID: 0x9000)], walSequences: 2...3)
        _ = try await index.recordSegment(path: "segments/b.seg", segment: older, bytesOnDisk: 1)
        #expect(try await index.sealedSequence() == 5)
        let imported = SegmentWriter(blockRows: 3, pricing: pricing).build([try batch([specs[0]], firstSpanID: 0xA000)])
        _ = try await index.recordSegment(path: "segments/c.seg", segment: imported, bytesOnDisk: 1)
        #expect(try await index.sealedSequence() == 5)
        // The same path twice is refused.
        let error = await #expect(throws: StoreError.self) {
            try await index.recordSegment(path: "segments/c.seg", segment: imported, bytesOnDisk: 1)
        }
        #expect(error?.code == .database)

        // T1 is now in three segments; each location carries its segment's state.
        func states() async throws -> [String] {
            try await index.locations(of: traceT1).map { "\($0.path):\($0.state)" }.uniqued()
        }
        #expect(try await states() == ["segments/a.seg:active", "segments/b.seg:active", "segments/c.seg:active"])
        let b = try #require(try await index.segments().first { $0.path == "segments/b.seg" })
        try await index.setState(.missing, segment: b.id)
        #expect(try await index.segments().map(\.state.rawValue) == ["active", "missing", "active"])
        #expect(try await states() == ["segments/a.seg:active", "segments/b.seg:missing", "segments/c.seg:active"])
        try await index.setState(.quarantined, segment: b.id)
        #expect(try await states() == ["segments/a.seg:active", "segments/b.seg:quarantined", "segments/c.seg:active"])
        // The schema refuses states it does not know, and a state this build does not know reads as not readable.
        #expect(throws: DatabaseError.self) {
            try index.pool.write { try $0.execute(sql: "UPDATE segments SET state = 'deleted' WHERE id = ?", arguments: [b.id]) }
        }
        #expect(SegmentState(catalogValue: "deleted") == .missing)
    }

    @Test func summariesAreFilteredAndOrderedNewestFirst() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let index = try makeIndex(directory)
        let built = SegmentWriter(blockRows: 3, pricing: pricing).build([try batch(specs)], walSequences: 1...1)
        _ = try await index.recordSegment(path: "segments/a.seg", segment: built, bytesOnDisk: built.bytes.count)

        let newestFirst = [traceT6, traceT4, traceT3, traceT2, traceT1, traceT5]
        #expect(ids(try await index.summaries(TraceQuery())) == newestFirst)
        #expect(ids(try await index.summaries(query { $0.service = "web" })) == [traceT2, traceT1])
        #expect(ids(try await index.summaries(query { $0.service = "api" })) == [traceT4, traceT3])
        #expect(ids(try await index.summaries(query { $0.service = "we" })) == [])
        #expect(ids(try await index.summaries(query { $0.model = "gpt-4o" })) == [traceT4, traceT1])
        #expect(ids(try await index.summaries(query { $0.model = "gpt-4o-mini" })) == [traceT5])
        #expect(ids(try await index.summaries(query { $0.user = "alice" })) == [traceT3, traceT1])
        #expect(ids(try await index.summaries(query { $0.session = "s2" })) == [traceT2])
        #expect(ids(try await index.summaries(query { $0.status = .error })) == [traceT4, traceT2])
        #expect(ids(try await index.summaries(query { $0.status = .ok })) == [traceT6, traceT3, traceT1, traceT5])
        #expect(ids(try await index.summaries(query { $0.since = baseTime + 200 * Self.second })) == [traceT6, traceT4, traceT3, traceT2])
        #expect(ids(try await index.summaries(query { $0.until = baseTime + 200 * Self.second })) == [traceT1, traceT5])
        #expect(ids(try await index.summaries(query {
            $0.since = baseTime + 100 * Self.second
            $0.until = baseTime + 300 * Self.second
        })) == [traceT2, traceT1])
        #expect(ids(try await index.summaries(query { $0.minDurationNanoseconds = Int64(10 * Self.second) })) == [traceT4, traceT2])
        #expect(ids(try await index.summaries(query { $0.minDurationNanoseconds = Int64(10 * Self.second) + 1 })) == [traceT4])
        #expect(ids(try await index.summaries(query {
            $0.service = "web"
            $0.status = .error
        })) == [traceT2])
        #expect(ids(try await index.summaries(query {
            $0.model = "gpt-4o"
            $0.user = "alice"
        })) == [traceT1])
        #expect(ids(try await index.summaries(query { $0.limit = 2 })) == [traceT6, traceT4])

        // One summary in full.
        let t1 = try #require(try await index.summaries(query { $0.user = "alice"; $0.model = "gpt-4o" }).first)
        #expect(t1.rootService == "web")
        #expect(t1.rootName == "root-web")
        #expect(t1.startTime == baseTime + 100 * Self.second)
        #expect(t1.endTime == baseTime + 102 * Self.second)
        #expect(t1.spanCount == 3)
        #expect(t1.errorCount == 0)
        #expect(t1.inputTokens == 1000 && t1.outputTokens == 500 && t1.totalTokens == 1500)
        #expect(t1.costMicros == 7_500)
        #expect(t1.unpricedCount == 0)
        #expect(t1.services == ["web"])
        #expect(t1.models == ["gpt-4o"])
        #expect(t1.user == "alice" && t1.session == "s1")
        let t4 = try #require(try await index.summaries(query { $0.user = "carol" }).first)
        #expect(t4.errorCount == 1 && t4.spanCount == 4)
        let t3 = try #require(try await index.summaries(query { $0.session = "s3" }).first)
        #expect(t3.costMicros == nil && t3.models.isEmpty && t3.totalTokens == 0)
    }

    @Test(arguments: [1, 2, 3, 4, 7])
    func pagingWithACursorGivesEachTraceOnceNewestFirst(pageSize: Int) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let index = try makeIndex(directory)
        // Many traces, several sharing a start time, recorded over several segments.
        var all: [TraceSpec] = []
        var random = SeededGenerator(seed: 5)
        for number in 0..<23 {
            all.append(TraceSpec(id: random.traceID(), service: number % 3 == 0 ? "web" : "api",
                                 start: baseTime + UInt64(number / 3) * Self.second, duration: Self.second,
                                 error: number % 4 == 0))
        }
        for (segment, slice) in stride(from: 0, to: all.count, by: 8).map({ all[$0..<min($0 + 8, all.count)] }).enumerated() {
            let built = SegmentWriter(blockRows: 5, pricing: pricing).build([try batch(Array(slice), firstSpanID: 0x10_0000 * UInt64(segment + 1))])
            _ = try await index.recordSegment(path: "segments/\(segment).seg", segment: built, bytesOnDisk: 1)
        }
        for filter in [TraceQuery(), query { $0.service = "web" }, query { $0.status = .error }] {
            var pages: [[TraceSummaryRow]] = []
            var page = filter
            page.limit = pageSize
            while true {
                let rows = try await index.summaries(page)
                pages.append(rows)
                #expect(rows.count <= pageSize)
                guard rows.count == pageSize, let last = rows.last else { break }
                page.cursor = TraceQuery.Cursor(startTime: last.startTime, traceID: last.traceID)
                // The cursor survives its text form.
                #expect(TraceQuery.Cursor(token: page.cursor!.token) == page.cursor)
            }
            let paged = pages.flatMap { $0 }
            var unpaged = filter
            unpaged.limit = 1_000
            let expected = try await index.summaries(unpaged)
            #expect(ids(paged) == ids(expected))
            #expect(Set(ids(paged)).count == paged.count, "no trace twice")
            #expect(paged.count == all.filter { spec in
                (filter.service == nil || spec.service == filter.service) && (filter.status == nil || spec.error)
            }.count)
            // Newest first, ties by trace id, descending.
            #expect(zip(paged, paged.dropFirst()).allSatisfy { ($0.startTime, $0.traceID) > ($1.startTime, $1.traceID) })
        }
    }

    @Test func cursorTokens() {
        let cursor = TraceQuery.Cursor(startTime: 1_700_000_000_123_456_789, traceID: TraceID(high: 0xFFFF_0000_0000_0001, low: 0xAB))
        #expect(TraceQuery.Cursor(token: cursor.token) == cursor)
        #expect(!cursor.token.contains("=") && !cursor.token.contains("+") && !cursor.token.contains("/"))
        #expect(TraceQuery.Cursor(token: "not a cursor") == nil)
        #expect(TraceQuery.Cursor(token: "") == nil)
    }

    // MARK: - One trace over several segments

    /// Trace M: the root in "web" (priced tokens), children in "api" (a model without tokens;
    /// an error with unpriced tokens).
    func mergeBatches() throws -> (root: NormalizedBatch, children: NormalizedBatch, late: NormalizedBatch) {
        let trace = TraceID.test(0x77)
        let root = try normalized([PResource(attributes: [("service.name", .string("web"))], scopes: [PScope(spans: [
            PSpan(traceID: trace, spanID: 1, name: "root", start: baseTime + 5, end: baseTime + 40,
                  attributes: [("gen_ai.request.model", .string("gpt-4o")), ("gen_ai.usage.input_tokens", .int(1000)),
                               ("gen_ai.usage.output_tokens", .int(500)), ("user.id", .string("u-root")), ("session.id", .string("sess"))]),
        ])])])
        let children = try normalized([PResource(attributes: [("service.name", .string("api"))], scopes: [PScope(spans: [
            PSpan(traceID: trace, spanID: 2, parentSpanID: 1, name: "child", start: baseTime + 10, end: baseTime + 50,
                  attributes: [("gen_ai.request.model", .string("claude-3-5-sonnet"))]),
            PSpan(traceID: trace, spanID: 3, parentSpanID: 2, name: "grandchild", start: baseTime + 11, end: baseTime + 12,
                  attributes: [("user.id", .string("u-child"))]),
        ])])])
        let late = try normalized([PResource(attributes: [("service.name", .string("api"))], scopes: [PScope(spans: [
            PSpan(traceID: trace, spanID: 4, parentSpanID: 2, name: "late", start: baseTime + 60, end: baseTime + 100,
                  attributes: [("gen_ai.request.model", .string("my-model")), ("gen_ai.usage.input_tokens", .int(7))],
                  statusCode: 2),
        ])])])
        return (root, children, late)
    }

    @Test(arguments: [["root", "children", "late"], ["children", "root", "late"], ["children", "late", "root"], ["late", "children", "root"]])
    func summariesOfOneTraceMergeAcrossSegments(order: [String]) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let index = try makeIndex(directory)
        let (root, children, late) = try mergeBatches()
        let batches = ["root": root, "children": children, "late": late]
        for (number, name) in order.enumerated() {
            let built = SegmentWriter(blockRows: 2, pricing: pricing).build([batches[name]!])
            _ = try await index.recordSegment(path: "segments/\(number)-\(name).seg", segment: built, bytesOnDisk: 1)
            let summary = try #require(try await index.summaries(TraceQuery()).first)
            let seen = Set(order.prefix(number + 1))
            // The root's service and name as soon as the root was seen, and never lost after.
            #expect(summary.rootService == (seen.contains("root") ? "web" : nil), "after \(order.prefix(number + 1))")
            #expect(summary.rootName == (seen.contains("root") ? "root" : nil), "after \(order.prefix(number + 1))")
            // Cost: NULL until a span has one; NULL + value = value.
            #expect(summary.costMicros == (seen.contains("root") ? 7_500 : nil), "after \(order.prefix(number + 1))")
        }
        let summaries = try await index.summaries(TraceQuery())
        #expect(summaries.count == 1)
        let summary = try #require(summaries.first)
        #expect(summary.traceID == .test(0x77))
        #expect(summary.spanCount == 4)
        #expect(summary.errorCount == 1)
        #expect(summary.startTime == baseTime + 5)
        #expect(summary.endTime == baseTime + 100)
        #expect(summary.inputTokens == 1007)
        #expect(summary.outputTokens == 500)
        #expect(summary.totalTokens == 1507)
        #expect(summary.costMicros == 7_500)
        #expect(summary.unpricedCount == 1)
        #expect(summary.services == ["api", "web"])
        #expect(summary.models == ["claude-3-5-sonnet", "gpt-4o", "my-model"])
        // The first user and session recorded win.
        #expect(summary.user == (order.firstIndex(of: "root")! < order.firstIndex(of: "children")! ? "u-root" : "u-child"))
        #expect(summary.session == "sess")
        #expect(try await index.locations(of: .test(0x77)).count == 3)
    }

    /// A root span with an empty name still gives the trace its root service.
    @Test(arguments: [true, false])
    func rootWithAnEmptyNameArrivingAfterItsChildren(rootFirst: Bool) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let index = try makeIndex(directory)
        let trace = TraceID.test(0x78)
        let root = try normalized([PResource(attributes: [("service.name", .string("web"))], scopes: [PScope(spans: [
            PSpan(traceID: trace, spanID: 1, name: "", start: baseTime, end: baseTime + 10),
        ])])])
        let child = try normalized([PResource(attributes: [("service.name", .string("api"))], scopes: [PScope(spans: [
            PSpan(traceID: trace, spanID: 2, parentSpanID: 1, name: "child", start: baseTime + 1, end: baseTime + 2),
        ])])])
        let parts: [NormalizedBatch] = rootFirst ? [root, child] : [child, root]
        for (number, part) in parts.enumerated() {
            let built = SegmentWriter(blockRows: 2, pricing: pricing).build([part])
            _ = try await index.recordSegment(path: "segments/\(number).seg", segment: built, bytesOnDisk: 1)
        }
        let summary = try #require(try await index.summaries(TraceQuery()).first)
        #expect(summary.spanCount == 2)
        #expect(summary.rootService == "web", "root arrived \(rootFirst ? "first" : "after its child")")
    }

    /// Within one batch, the root's service holds even when later rows of the batch are children.
    @Test func rootOfABatchIsTheSpanWithoutParent() throws {
        let (root, children, _) = try mergeBatches()
        let summaries = TraceSummary.summarize([children, root, children])
        #expect(summaries.count == 1)
        #expect(summaries[0].rootService == "web")
        #expect(summaries[0].rootName == "root")
        #expect(summaries[0].spanCount == 5)
        #expect(summaries[0].user == "u-child")
    }
}

extension Array where Element: Hashable {
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}

/// Values from clients that the summaries must survive.
struct SummaryEdgeCaseTests {
    let pricing = PricingTable.builtIn()

    /// Services and models are kept as sets in one text column: a name containing a comma
    /// (once the separator) must neither split in two nor match a filter for a part of it.
    @Test func aServiceNameWithACommaStaysOneName() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let index = try IndexDatabase(path: directory.path + "/index.db")
        let batch = try normalized([PResource(attributes: [("service.name", .string("billing,eu"))], scopes: [PScope(spans: [
            PSpan(traceID: .test(0x90), spanID: 1, attributes: [("gen_ai.request.model", .string("org/model,v2"))]),
        ])])])
        let built = SegmentWriter(blockRows: 4, pricing: pricing).build([batch])
        _ = try await index.recordSegment(path: "segments/a.seg", segment: built, bytesOnDisk: 1)
        var query = TraceQuery()
        query.service = "billing"
        #expect(try await index.summaries(query).isEmpty, "a filter for \"billing\" matches service \"billing,eu\"")
        query.service = "billing,eu"
        #expect(try await index.summaries(query).count == 1)
        let summary = try #require(try await index.summaries(TraceQuery()).first)
        #expect(summary.services == ["billing,eu"])
        #expect(summary.models == ["org/model,v2"])
    }

    /// Token counts are client-supplied Int64s: adding two of them must not trap the seal.
    @Test
    func hugeTokenCountsInOneTraceDoNotTrapTheSummary() throws {
        let batch = try normalized([PResource(attributes: [("service.name", .string("s"))], scopes: [PScope(spans: [
            PSpan(traceID: .test(0x91), spanID: 1, attributes: [("gen_ai.usage.input_tokens", .int(.max))]),
            PSpan(traceID: .test(0x91), spanID: 2, attributes: [("gen_ai.usage.input_tokens", .int(.max))]),
        ])])])
        let summaries = TraceSummary.summarize([batch])
        #expect(summaries.count == 1)
    }

    /// The same across segments: SQLite turns an overflowing integer sum into a REAL.
    @Test
    func hugeTokenCountsAcrossSegmentsDoNotBreakTheListing() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let index = try IndexDatabase(path: directory.path + "/index.db")
        for number in 0..<2 {
            let batch = try normalized([PResource(attributes: [("service.name", .string("s"))], scopes: [PScope(spans: [
                PSpan(traceID: .test(0x94), spanID: UInt64(number + 1), attributes: [("gen_ai.usage.input_tokens", .int(.max))]),
            ])])])
            let built = SegmentWriter(blockRows: 4, pricing: pricing).build([batch])
            _ = try await index.recordSegment(path: "segments/\(number).seg", segment: built, bytesOnDisk: 1)
        }
        let summaries = try await index.summaries(TraceQuery())
        #expect(summaries.count == 1)
    }
}
