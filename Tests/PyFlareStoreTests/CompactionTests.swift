import Foundation
import GRDB
import Logging
import PyFlareModel
import PyFlareTesting
import PyFlareWire
import Synchronization
import Testing
@testable import PyFlareStore
@testable import PyFlareSQL

/// Compaction and retention on real files and a real index: many small segments become few
/// with every answer unchanged, expired rows and traces disappear, a crash at each step of a
/// swap recovers to a correct store, the size cap and the index vacuum give bytes back.
@Suite struct CompactionTests {
    let pricing = PricingTable.builtIn()
    static let hour: UInt64 = 3_600_000_000_000
    static let services = ["chat", "search", "billing"]
    static let models = ["gpt-4o", "gpt-4o-mini", ""]

    /// Nothing expires; every segment counts as small; replaced files go at once.
    static var keepEverything: RetentionPolicy {
        var policy = RetentionPolicy()
        (policy.spans, policy.logs, policy.metricPoints) = (0, 0, 0)
        return policy
    }

    static var mergeEverything: CompactionSettings {
        var settings = CompactionSettings()
        settings.smallSegmentBytes = 1 << 30
        settings.targetSegmentBytes = 1 << 30
        settings.deleteGrace = .zero
        return settings
    }

    struct Fixture {
        var store: SpanStore
        var directory: TemporaryDirectory
        var batches: [NormalizedBatch]
    }

    func open(_ directory: TemporaryDirectory) async throws -> SpanStore {
        let configuration = SpanStoreConfiguration(dataDirectory: directory.path, walSync: .never,
                                                   segmentMaxAge: .seconds(3_600), blockRows: 40)
        return try await SpanStore.open(configuration: configuration, pricing: pricing, logger: Logger(label: "test"))
    }

    /// `segments` seals of 120 spans, one per hour from `baseTime`; a third of the traces go on
    /// in the next seal, so their summaries merge spans of two segments.
    func makeStore(segments: Int = 8, spansPerSegment: Int = 120) async throws -> Fixture {
        let directory = try TemporaryDirectory()
        let store = try await open(directory)
        var random = SeededGenerator(seed: 99)
        var carried: [TraceID] = []
        var batches: [NormalizedBatch] = []
        for segment in 0..<segments {
            var builder = OTLPPayloadBuilder()
            var next: [TraceID] = []
            for index in 0..<spansPerSegment {
                let trace = index < carried.count ? carried[index] : random.traceID()
                if index % 3 == 0 { next.append(trace) }
                var span = OTLPPayloadBuilder.Span(traceID: trace, spanID: random.next() | 1)
                span.startTime = baseTime + UInt64(segment) * Self.hour + UInt64(index) * 1_000_000_000
                span.endTime = span.startTime + 50_000_000
                let model = Self.models[Int(random.next() % 3)]
                if !model.isEmpty {
                    span.attributes = [("gen_ai.request.model", .string(model)), ("gen_ai.usage.input_tokens", .int(Int64(random.next() % 500))),
                                       ("gen_ai.usage.output_tokens", .int(9))]
                }
                if random.next() % 7 == 0 { span.statusCode = 2 }
                builder.add(span, resource: [("service.name", .string(Self.services[index % 3])),
                                             ("deployment.environment.name", .string(index % 2 == 0 ? "prod" : "dev"))])
            }
            carried = next
            let batch = SpanNormalizer(pricing: pricing).normalize(try SpanBatch.decodeProtobuf(builder.payload()))
            batches.append(batch)
            try await store.write([batch])
            try await store.seal()
        }
        return Fixture(store: store, directory: directory, batches: batches)
    }

    /// What a user can ask: SQL aggregates, trace summaries and every trace read back by id.
    struct Answers: Equatable {
        var perModel: [[SQLValue]]
        var perService: [[SQLValue]]
        var summaries: [String]
        var traces: [TraceID: [UInt64: String]]
    }

    func answers(_ store: SpanStore) async throws -> Answers {
        let engine = store.sqlEngine(limits: SQLLimits())
        let perModel = try await engine.run("SELECT model, count(*), sum(input_tokens), sum(cost_micros), sum(status = 'error') FROM spans GROUP BY model ORDER BY model").rows
        let perService = try await engine.run("SELECT service, count(*), min(start_time_ns), max(start_time_ns) FROM spans GROUP BY service ORDER BY service").rows
        var query = TraceQuery()
        query.limit = 10_000
        let summaries = try await store.traces(query).map {
            "\(Hex.string($0.traceID)) \($0.spanCount) \($0.errorCount) \($0.inputTokens) \($0.startTime) \($0.services)"
        }.sorted()
        var traces: [TraceID: [UInt64: String]] = [:]
        for summary in try await store.traces(query) {
            let stored = try await store.trace(summary.traceID)
            #expect(stored.warnings.isEmpty, "\(stored.warnings)")
            traces[summary.traceID] = canonicalBySpanID(stored.batches, pricing: pricing)
        }
        return Answers(perModel: perModel, perService: perService, summaries: summaries, traces: traces)
    }

    func segmentFiles(_ directory: TemporaryDirectory) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path + "/segments")) ?? []).filter { $0.hasSuffix(".seg") }.sorted()
    }

    /// The files on disk are exactly the active segments of the index: nothing lost, nothing stray.
    func expectFilesMatchIndex(_ store: SpanStore, _ directory: TemporaryDirectory, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let indexed = try await store.index.segments().filter { $0.state == .active }.map { String($0.path.dropFirst("segments/".count)) }.sorted()
        #expect(segmentFiles(directory) == indexed, sourceLocation: sourceLocation)
        #expect(try await store.index.pendingDeletions().isEmpty, sourceLocation: sourceLocation)
    }

    // MARK: - Merging

    @Test func manySmallSegmentsCompactIntoOneWithEveryAnswerUnchanged() async throws {
        let fixture = try await makeStore()
        let store = fixture.store
        let before = try await answers(store)
        #expect(before.traces.values.reduce(0) { $0 + $1.count } == 8 * 120)
        #expect(segmentFiles(fixture.directory).count == 8)

        let report = try await store.compactor().run(policy: Self.keepEverything, settings: Self.mergeEverything,
                                                     now: UnixTime.nowNanoseconds(), dryRun: false)
        #expect(report.segmentsMerged == 8 && report.segmentsWritten == 1 && report.rowsExpired == 0)
        #expect(report.segmentBytesReclaimed > 0 && report.pendingDeletionBytes == 0)
        let files = segmentFiles(fixture.directory)
        #expect(files.count == 1 && SegmentNaming.isCompactionOutput(files[0]))
        #expect(try await answers(store) == before)
        try await expectFilesMatchIndex(store, fixture.directory)

        // Reopened (recovery sees a compacted store), still the same.
        try await store.close()
        let reopened = try await open(fixture.directory)
        #expect(try await answers(reopened) == before)
        try await reopened.close()
    }

    @Test func aDryRunPlansAndChangesNothing() async throws {
        let fixture = try await makeStore(segments: 4)
        let files = segmentFiles(fixture.directory)
        let report = try await fixture.store.compactor().run(policy: Self.keepEverything, settings: Self.mergeEverything,
                                                             now: UnixTime.nowNanoseconds(), dryRun: true)
        #expect(report.dryRun && report.segmentsMerged == 4 && report.actions.allSatisfy { $0.output == nil })
        #expect(segmentFiles(fixture.directory) == files)
        try await fixture.store.close()
    }

    @Test func mergesAreBoundedByTheTargetSize() async throws {
        let fixture = try await makeStore(segments: 6)
        let catalog = try await fixture.store.index.catalog()
        var settings = Self.mergeEverything
        settings.targetSegmentBytes = catalog.map(\.bytesRaw).max()! * 5 / 2
        let report = try await fixture.store.compactor().run(policy: Self.keepEverything, settings: settings,
                                                             now: UnixTime.nowNanoseconds(), dryRun: false)
        #expect(report.actions.map(\.inputs.count) == [2, 2, 2])
        #expect(segmentFiles(fixture.directory).count == 3)
        try await fixture.store.close()
    }

    // MARK: - Expiry

    @Test func expiredSpansAndTracesDisappearAndLiveOnesStay() async throws {
        let fixture = try await makeStore()
        let store = fixture.store
        var policy = Self.keepEverything
        policy.spans = 24 * Int64(Self.hour)
        // "now" a day, 4 hours and a minute after the first span: the seals of hours 0-3 are older
        // than a day, the one of hour 4 (two minutes of spans) straddles the cut-off.
        let now = Int64(baseTime + 28 * Self.hour) + 60_000_000_000
        let cutoff = now - policy.spans
        var settings = Self.mergeEverything
        settings.smallSegmentBytes = 0  // no merges: deletes and rewrites only
        let report = try await store.compactor().run(policy: policy, settings: settings, now: now, dryRun: false)
        #expect(report.segmentsDeleted == 4)
        #expect(report.count(.rewrite) == 1)

        let expected = fixture.batches.flatMap { batch in (0..<batch.count).map { (batch.spans.traceIDs[$0], batch.spans.startTimes[$0]) } }
        let kept = expected.filter { Int64($0.1) >= cutoff }
        let engine = store.sqlEngine(limits: SQLLimits())
        #expect(try await engine.run("SELECT count(*) FROM spans").rows == [[.integer(Int64(kept.count))]])
        #expect(report.rowsExpired == expected.count - kept.count)
        #expect(try await engine.run("SELECT count(*) FROM spans WHERE start_time_ns < ?", parameters: [.integer(cutoff)]).rows == [[.integer(0)]])

        // A trace loses its summary only when none of its spans is left.
        let liveTraces = Set(kept.map(\.0))
        var query = TraceQuery()
        query.limit = 10_000
        #expect(Set(try await store.traces(query).map(\.traceID)) == liveTraces)
        for traceID in Set(expected.map(\.0)).subtracting(liveTraces).prefix(5) {
            #expect(try await store.trace(traceID).spanCount == 0)
        }
        // Jobs never recompute before the floor: the newest expired span, plus one.
        let floor = try await store.index.read("floor") { db in
            try Int64.fetchOne(db, sql: "SELECT value FROM store_state WHERE key = ?", arguments: [SegmentKind.spans.retentionFloorKey])
        }
        let newestExpired = expected.map { Int64($0.1) }.filter { $0 < cutoff }.max()!
        #expect(floor == newestExpired + 1)
        try await expectFilesMatchIndex(store, fixture.directory)

        // The rewritten segment knows when its next row expires, so the next run leaves it alone.
        let again = try await store.compactor().run(policy: policy, settings: settings, now: now, dryRun: false)
        #expect(again.actions.isEmpty)
        try await store.close()
    }

    @Test func overridesKeepAServiceOrEnvironmentLonger() async throws {
        let fixture = try await makeStore(segments: 3)
        let store = fixture.store
        var policy = Self.keepEverything
        policy.spans = Int64(Self.hour)
        policy.overrides = [.init(service: "chat", age: 0), .init(environment: "dev", age: 100 * Int64(Self.hour)),
                            .init(service: "search", environment: "dev", age: Int64(Self.hour))]
        let now = Int64(baseTime + 10 * Self.hour)
        var settings = Self.mergeEverything
        settings.smallSegmentBytes = 0
        _ = try await store.compactor().run(policy: policy, settings: settings, now: now, dryRun: false)
        let engine = store.sqlEngine(limits: SQLLimits())
        let left = try await engine.run("SELECT service, environment, count(*) FROM spans GROUP BY 1, 2 ORDER BY 1, 2").rows
        // chat is kept forever (service beats environment); billing in dev is kept by the
        // environment override; search in dev matches both and expires; prod expires.
        #expect(left == [[.text("billing"), .text("dev"), .integer(60)], [.text("chat"), .text("dev"), .integer(60)],
                         [.text("chat"), .text("prod"), .integer(60)]])
        try await store.close()
    }

    // MARK: - Crashes

    @Test(arguments: CompactionStep.allCases)
    func aCrashAtAnyStepOfASwapRecoversToACorrectStore(step: CompactionStep) async throws {
        let fixture = try await makeStore(segments: 5)
        let before = try await answers(fixture.store)
        let crashing = fixture.store.compactor { current in
            if current == step { throw SimulatedCrash(at: step) }
        }
        await #expect(throws: SimulatedCrash.self) {
            _ = try await crashing.run(policy: Self.keepEverything, settings: Self.mergeEverything, now: UnixTime.nowNanoseconds(), dryRun: false)
        }
        // The process dies here; the next one recovers.
        let store = try await open(fixture.directory)
        #expect(try await answers(store) == before, "crash at \(step.rawValue)")
        try await expectFilesMatchIndex(store, fixture.directory)
        let expectedFiles = step == .afterCommit ? 1 : 5
        #expect(segmentFiles(fixture.directory).count == expectedFiles, "crash at \(step.rawValue)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.directory.path + "/quarantine").isEmpty)

        // And compaction then finishes the job.
        _ = try await store.compactor().run(policy: Self.keepEverything, settings: Self.mergeEverything, now: UnixTime.nowNanoseconds(), dryRun: false)
        #expect(segmentFiles(fixture.directory).count == 1)
        #expect(try await answers(store) == before)
        try await store.close()
    }

    @Test func aQueryStartedBeforeASwapStillReadsTheReplacedFilesDuringTheGracePeriod() async throws {
        let fixture = try await makeStore(segments: 3)
        let store = fixture.store
        var settings = Self.mergeEverything
        settings.deleteGrace = .seconds(3_600)
        let report = try await store.compactor().run(policy: Self.keepEverything, settings: settings, now: UnixTime.nowNanoseconds(), dryRun: false)
        #expect(report.pendingDeletionBytes > 0 && report.segmentBytesReclaimed == 0)
        #expect(segmentFiles(fixture.directory).count == 4)
        // Past the grace period, the next run deletes them.
        settings.deleteGrace = .zero
        let later = try await store.compactor().run(policy: Self.keepEverything, settings: settings, now: UnixTime.nowNanoseconds(), dryRun: false)
        #expect(later.segmentBytesReclaimed == report.pendingDeletionBytes)
        try await expectFilesMatchIndex(store, fixture.directory)
        try await store.close()
    }

    // MARK: - Space

    func directoryBytes(_ path: String) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: path + "/" + $1)[.size] as? Int) ?? 0) }
    }

    @Test func theSizeCapDeletesTheOldestSegmentsFirst() async throws {
        let fixture = try await makeStore(segments: 6)
        let store = fixture.store
        let catalog = try await store.index.catalog()
        let total = catalog.reduce(0) { $0 + $1.bytesOnDisk }
        var policy = Self.keepEverything
        policy.maxBytes = Int64(total / 2)
        var settings = Self.mergeEverything
        settings.smallSegmentBytes = 0
        let bytesBefore = directoryBytes(fixture.directory.path + "/segments")
        let report = try await store.compactor().run(policy: policy, settings: settings, now: UnixTime.nowNanoseconds(), dryRun: false)
        #expect(report.actions.allSatisfy { $0.operation == .delete && $0.reason == "size_cap" })
        let left = try await store.index.catalog()
        #expect(left.reduce(0) { $0 + $1.bytesOnDisk } <= total / 2)
        #expect(left.map(\.id) == Array(catalog.map(\.id).suffix(left.count)), "the newest segments stay")
        #expect(directoryBytes(fixture.directory.path + "/segments") < bytesBefore)
        try await expectFilesMatchIndex(store, fixture.directory)
        try await store.close()
    }

    @Test func theIndexGivesItsFreePagesBack() async throws {
        // Many traces, so the trace index and summaries take many pages.
        let fixture = try await makeStore(segments: 6, spansPerSegment: 3_000)
        let store = fixture.store
        _ = try await store.index.vacuum()
        #expect(try await store.index.read("mode") { db in try Int.fetchOne(db, sql: "PRAGMA auto_vacuum") } == 2)
        let before = store.index.bytesOnDisk
        var policy = Self.keepEverything
        policy.spans = Int64(Self.hour)
        var settings = Self.mergeEverything
        settings.smallSegmentBytes = 0
        let report = try await store.compactor().run(policy: policy, settings: settings, now: Int64(baseTime + 100 * Self.hour), dryRun: false)
        #expect(report.segmentsDeleted == 6)
        let reclaimed = try await store.index.vacuum()
        #expect(reclaimed > 0)
        #expect(store.index.bytesOnDisk < before / 2, "\(store.index.bytesOnDisk) of \(before) bytes left")
        try await store.close()
    }

    // MARK: - Logs and metric points

    @Test func logsAndMetricPointsMergeAndExpireToo() async throws {
        let directory = try TemporaryDirectory()
        let store = try await open(directory)
        let logs = try LogSegmentTests.batches()
        let metrics = try MetricSegmentTests.batches()
        for batch in logs {
            try await store.writeLogs(batch)
            try await store.seal()
        }
        for batch in metrics {
            try await store.writeMetrics(batch)
            try await store.seal()
        }
        let engine = store.sqlEngine(limits: SQLLimits())
        func sorted(_ rows: [[SQLValue]]) -> [String] { rows.map { "\($0)" }.sorted() }
        let logRows = sorted(try await engine.run("SELECT * FROM logs").rows)
        let pointRows = sorted(try await engine.run("SELECT * FROM metric_points").rows)
        _ = try await store.compactor().run(policy: Self.keepEverything, settings: Self.mergeEverything, now: UnixTime.nowNanoseconds(), dryRun: false)
        let catalog = try await store.index.catalog()
        #expect(catalog.filter { $0.kind == .logs }.count == 1 && catalog.filter { $0.kind == .metricPoints }.count == 1)
        #expect(sorted(try await engine.run("SELECT * FROM logs").rows) == logRows)
        #expect(sorted(try await engine.run("SELECT * FROM metric_points").rows) == pointRows)
        let names = try await store.metricNames()

        // Everything older than now expires: the metric catalog empties with the points.
        var policy = RetentionPolicy()
        (policy.logs, policy.metricPoints, policy.spans) = (1_000_000_000, 1_000_000_000, 0)
        _ = try await store.compactor().run(policy: policy, settings: Self.mergeEverything, now: UnixTime.latest + UnixTime.day, dryRun: false)
        #expect(try await engine.run("SELECT count(*) FROM logs").rows == [[.integer(0)]])
        #expect(try await engine.run("SELECT count(*) FROM metric_points").rows == [[.integer(0)]])
        #expect(!names.isEmpty)
        #expect(try await store.metricNames().isEmpty)
        try await expectFilesMatchIndex(store, directory)
        try await store.close()
    }
}

/// The policy's rules, the planner and the free-space floor, without files.
@Suite struct RetentionPolicyTests {
    static let day = RetentionPolicy.day

    @Test func theMostSpecificOverrideWins() {
        var policy = RetentionPolicy()
        policy.spans = 7 * Self.day
        policy.overrides = [.init(environment: "dev", age: Self.day), .init(service: "checkout", age: 90 * Self.day),
                            .init(service: "checkout", environment: "dev", age: 3 * Self.day), .init(service: "audit", age: 0)]
        #expect(policy.age(.spans, service: "web", environment: "prod") == 7 * Self.day)
        #expect(policy.age(.spans, service: "web", environment: "dev") == Self.day)
        #expect(policy.age(.spans, service: "checkout", environment: "prod") == 90 * Self.day)
        #expect(policy.age(.spans, service: "checkout", environment: "dev") == 3 * Self.day)
        #expect(policy.age(.logs, service: "checkout", environment: nil) == 90 * Self.day)
        #expect(policy.longestAge(.spans, services: ["web", "checkout"]) == 90 * Self.day)
        #expect(policy.shortestAge(.spans, services: ["checkout"]) == 3 * Self.day)
        #expect(policy.longestAge(.spans, services: ["audit"]) == 0, "kept forever")
        #expect(policy.shortestAge(.spans, services: ["audit"]) == nil, "its dev records too: the service is more specific")
        #expect(policy.shortestAge(.spans, services: ["web"]) == Self.day, "web's dev records go after a day")
    }

    @Test func jsonRoundTripsAndErrorsNameTheField() throws {
        var policy = RetentionPolicy()
        policy.spans = 14 * Self.day
        policy.overrides = [.init(service: "a", environment: "b", age: 36 * 3_600 * 1_000_000_000)]
        policy.maxBytes = 1 << 40
        policy.outputTables = ["rollup_1m": 30 * Self.day, "rollup_1d": 0]
        let json = try JSONValue.parse(policy.json)
        #expect(try RetentionPolicy.parse(json, base: RetentionPolicy()) == policy)
        #expect(String(decoding: policy.json, as: UTF8.self).contains(#""overrides":[{"service":"a","environment":"b","age":"36h"}]"#))
        for (text, field) in [(#"{"logs":"soon"}"#, "logs"), (#"{"overrides":[{"service":"a","age":"1d","x":1}]}"#, "overrides[0].x"),
                              (#"{"output_tables":{"t":"-1d"}}"#, "output_tables.t"), (#"{"max_bytes":"big"}"#, "max_bytes")] {
            #expect(throws: RetentionPolicyError.self) { try RetentionPolicy.parse(try JSONValue.parse(Array(text.utf8)), base: policy) }
            do {
                _ = try RetentionPolicy.parse(try JSONValue.parse(Array(text.utf8)), base: policy)
            } catch let error as RetentionPolicyError {
                #expect(error.field == field)
            }
        }
    }

    func segment(_ id: Int64, minHours: Int64, maxHours: Int64, raw: Int = 1_000, disk: Int = 500, services: [String] = ["web"],
                 kind: SegmentKind = .spans) -> CatalogSegment {
        let hour: Int64 = 3_600_000_000_000
        return CatalogSegment(id: id, path: "segments/\(id).seg", kind: kind, rows: 10, bytesRaw: raw, bytesOnDisk: disk,
                              minTime: minHours * hour, maxTime: maxHours * hour, services: services, sealID: id, expires: nil)
    }

    @Test func thePlannerDeletesRewritesAndMergesByTheZoneMaps() {
        var policy = RetentionPolicy()
        policy.spans = 10 * 3_600_000_000_000  // 10 hours
        policy.overrides = [.init(service: "keep", age: 0)]
        var settings = CompactionSettings()
        settings.smallSegmentBytes = 2_000
        settings.targetSegmentBytes = 2_500
        let now: Int64 = 100 * 3_600_000_000_000
        let catalog = [
            segment(1, minHours: 80, maxHours: 85),                       // wholly expired
            segment(2, minHours: 80, maxHours: 85, services: ["keep"]),   // kept forever, but small: merged
            segment(3, minHours: 88, maxHours: 92, raw: 10_000),          // straddles 90 h: rewritten
            segment(4, minHours: 95, maxHours: 96),                       // small
            segment(5, minHours: 96, maxHours: 97),                       // small
            segment(6, minHours: 97, maxHours: 98),                       // small: a second group, as a third would pass the target
            segment(7, minHours: 95, maxHours: 99, kind: .logs),          // small, alone of its kind
        ]
        let actions = CompactionPlanner.plan(catalog, policy: policy, settings: settings, now: now)
        #expect(actions.map { "\($0.operation.rawValue) \($0.inputs.map(\.id))" } == ["delete [1]", "rewrite [3]", "merge [2, 4]", "merge [5, 6]"])

        // Low on disk: deletions only.
        #expect(CompactionPlanner.plan(catalog, policy: policy, settings: settings, now: now, canWrite: false).map(\.operation) == [.delete])

        // The size cap takes the oldest by their newest row, whatever their kind.
        policy.maxBytes = 1_200
        let capped = CompactionPlanner.plan(catalog, policy: policy, settings: settings, now: now, canWrite: false)
        #expect(capped.map { "\($0.reason) \($0.inputs.map(\.id))" } == ["expired [1]", "size_cap [2]", "size_cap [3]", "size_cap [4]", "size_cap [5]"])
    }

    @Test func aKnownExpiryReplacesTheZoneMapGuess() {
        var policy = RetentionPolicy()
        policy.spans = 10 * 3_600_000_000_000
        let now: Int64 = 100 * 3_600_000_000_000
        var settings = CompactionSettings()
        settings.smallSegmentBytes = 0
        var straddling = segment(1, minHours: 85, maxHours: 95)
        #expect(CompactionPlanner.plan([straddling], policy: policy, settings: settings, now: now).count == 1)
        straddling.expires = now + 1
        #expect(CompactionPlanner.plan([straddling], policy: policy, settings: settings, now: now).isEmpty)
        straddling.expires = now
        #expect(CompactionPlanner.plan([straddling], policy: policy, settings: settings, now: now).count == 1)
    }

    @Test func theDiskFloorRefusesBelowAndRecoversAboveWithAMargin() {
        let free = Mutex<Int64?>(10_000)
        let disk = DiskSpaceGuard(directory: "/", floor: 1_000, logger: Logger(label: "test")) { _ in free.withLock { $0 } }
        #expect(!disk.check() && disk.refusal == nil)
        free.withLock { $0 = 999 }
        #expect(disk.check() && disk.refusal?.contains("999 bytes free") == true)
        free.withLock { $0 = 1_040 }
        #expect(disk.check(), "within the 5% margin it stays refused")
        free.withLock { $0 = nil }
        #expect(disk.check(), "an unreadable free space changes nothing")
        free.withLock { $0 = 1_050 }
        #expect(!disk.check() && disk.refusal == nil)
        let off = DiskSpaceGuard(directory: "/", floor: 0, logger: Logger(label: "test")) { _ in 0 }
        #expect(!off.check())
    }

    @Test func durationsReadAndWriteInWholeUnits() {
        #expect(DurationText.nanoseconds("2w") == 14 * Self.day)
        #expect(DurationText.text(14 * Self.day) == "14d")
        #expect(DurationText.text(90 * 60 * 1_000_000_000) == "90m")
        #expect(DurationText.text(1_500_000_000) == "1s")
    }
}
