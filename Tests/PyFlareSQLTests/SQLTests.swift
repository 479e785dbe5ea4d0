import Foundation
import Logging
import PyFlareModel
import PyFlareTesting
import PyFlareWire
import Testing
@testable import PyFlareStore
@testable import PyFlareSQL

/// SQL over a store of several segments plus unsealed WAL records: answers checked against
/// numbers computed from what was written, pruning shown by the blocks read, and every kind
/// of write or escape refused.
@Suite struct SQLTests {
    let pricing = PricingTable.builtIn()
    static let models = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet-20241022", ""]
    static let services = ["chat", "search", "billing"]
    static let hour: UInt64 = 3_600_000_000_000

    /// One written span, as the test knows it independently of the store.
    struct Sent {
        var traceID: TraceID
        var spanID: UInt64
        var service: String
        var model: String
        var start: UInt64
        var inputTokens: Int64
        var error: Bool
    }

    struct Fixture {
        var store: SpanStore
        var sent: [Sent]
        /// Cost per span id, as normalization priced it.
        var costs: [UInt64: Int64]
        var directory: TemporaryDirectory
    }

    /// 6 batches of 200 spans, one per hour; the first 4 sealed into segments, the rest unsealed.
    func makeStore(sealedBatches: Int = 4) async throws -> Fixture {
        let directory = try TemporaryDirectory()
        let configuration = SpanStoreConfiguration(dataDirectory: directory.path, walSync: .never,
                                                   segmentMaxAge: .seconds(3_600), blockRows: 50)
        let store = try await SpanStore.open(configuration: configuration, pricing: pricing, logger: Logger(label: "test"))
        var random = SeededGenerator(seed: 7)
        var sent: [Sent] = []
        var costs: [UInt64: Int64] = [:]
        for batchIndex in 0..<6 {
            var builder = OTLPPayloadBuilder()
            for index in 0..<200 {
                let service = Self.services[Int(random.next() % 3)]
                let model = Self.models[Int(random.next() % 4)]
                let trace = random.traceID()
                var span = OTLPPayloadBuilder.Span(traceID: trace, spanID: random.next() | 1)
                span.startTime = baseTime + UInt64(batchIndex) * Self.hour + UInt64(index) * 1_000_000_000
                span.endTime = span.startTime + 250_000_000
                let tokens = Int64(random.next() % 1000)
                if !model.isEmpty {
                    span.attributes = [("gen_ai.request.model", .string(model)), ("gen_ai.system", .string("openai")),
                                       ("gen_ai.usage.input_tokens", .int(tokens)), ("gen_ai.usage.output_tokens", .int(7)),
                                       ("app.note", .string("n\(index)"))]
                }
                let error = random.next() % 5 == 0
                if error { span.statusCode = 2 }
                builder.add(span, resource: [("service.name", .string(service))])
                sent.append(Sent(traceID: trace, spanID: span.spanID, service: service, model: model, start: span.startTime,
                                 inputTokens: model.isEmpty ? 0 : tokens, error: error))
            }
            let batch = SpanNormalizer(pricing: pricing).normalize(try SpanBatch.decodeProtobuf(builder.payload()))
            for row in 0..<batch.count { costs[batch.spans.spanIDs[row]] = batch.columns.costMicros[row] }
            try await store.write([batch])
            if batchIndex < sealedBatches { try await store.seal() }
        }
        return Fixture(store: store, sent: sent, costs: costs, directory: directory)
    }

    func rows(_ engine: SQLEngine, _ sql: String, _ parameters: [SQLValue] = []) async throws -> [[SQLValue]] {
        try await engine.run(sql, parameters: parameters).rows
    }

    @Test func answersMatchWhatWasSentAcrossSegmentsAndUnsealedRecords() async throws {
        let fixture = try await makeStore()
        defer { fixture.directory.remove() }
        let engine = fixture.store.sqlEngine(limits: SQLLimits())
        let sent = fixture.sent

        #expect(try await rows(engine, "SELECT count(*) FROM spans") == [[.integer(Int64(sent.count))]])
        let segments = try await rows(engine, "SELECT count(*) FROM segments WHERE kind = 'spans'")
        #expect(segments == [[.integer(4)]])

        // Tokens and cost per model (GROUP BY consumed by the grouped scan: NULL first, then ascending).
        let perModel = try await engine.run("SELECT model, count(*), sum(input_tokens), sum(cost_micros) FROM spans GROUP BY model")
        var expected: [[SQLValue]] = []
        for model in Self.models.sorted() {
            let spans = sent.filter { $0.model == model }
            let cost = spans.compactMap { fixture.costs[$0.spanID] ?? nil }
            expected.append([model.isEmpty ? .null : .text(model), .integer(Int64(spans.count)),
                             model.isEmpty ? .null : .integer(spans.reduce(0) { $0 + $1.inputTokens }),
                             cost.isEmpty ? .null : .integer(cost.reduce(0, +))])
        }
        #expect(perModel.rows == expected)

        // Errors per service.
        let errors = try await rows(engine, "SELECT service, count(*) FROM spans WHERE status = 'error' GROUP BY service ORDER BY service")
        let expectedErrors = Dictionary(grouping: sent.filter(\.error), by: \.service).map { [SQLValue.text($0.key), .integer(Int64($0.value.count))] }
            .sorted { $0[0].text < $1[0].text }
        #expect(errors == expectedErrors)

        // Grouped scans with row checks (a time range cutting blocks in two), a filter SQLite
        // applies to the group value, and other columns read beside the group's.
        let since = baseTime + 30 * 1_000_000_000, until = baseTime + 4 * Self.hour + 50 * 1_000_000_000
        let inRange = sent.filter { $0.start >= since && $0.start < until }
        let perModelInRange = try await rows(engine, """
            SELECT model, count(*), sum(input_tokens), min(start_time_ns), max(service) FROM spans
            WHERE start_time_ns >= ? AND start_time_ns < ? GROUP BY model
            """, [.integer(Int64(since)), .integer(Int64(until))])
        #expect(perModelInRange == Self.models.sorted().map { model -> [SQLValue] in
            let spans = inRange.filter { $0.model == model }
            return [model.isEmpty ? .null : .text(model), .integer(Int64(spans.count)),
                    model.isEmpty ? .null : .integer(spans.reduce(0) { $0 + $1.inputTokens }),
                    .integer(Int64(spans.map(\.start).min()!)), .text(spans.map(\.service).max()!)]
        })
        let gptErrors = try await rows(engine, "SELECT model, count(*) FROM spans WHERE model LIKE 'gpt%' AND status = 'error' GROUP BY model")
        #expect(gptErrors == Self.models.sorted().filter { $0.hasPrefix("gpt") }.map { model in
            [.text(model), .integer(Int64(sent.filter { $0.model == model && $0.error }.count))]
        })
        // The trace id is checked by the scan alone (SQLite omits it): a grouped scan keeps
        // only that trace's rows of the blocks the trace index names.
        for target in [sent[5], sent[1_100]] {
            #expect(try await rows(engine, "SELECT model, count(*) FROM spans WHERE trace_id = ? GROUP BY model",
                                   [.text(Hex.string(target.traceID))])
                == [[target.model.isEmpty ? .null : .text(target.model), .integer(1)]])
        }
        // A grouped scan as the inner table of a join is filtered again for every outer row.
        let perService = try await rows(engine, """
            SELECT v.service, (SELECT count(*) FROM (SELECT model FROM spans s WHERE s.service = v.service GROUP BY model))
            FROM (SELECT DISTINCT service FROM spans) v ORDER BY v.service
            """)
        #expect(perService == Self.services.sorted().map { service in
            [.text(service), .integer(Int64(Set(sent.filter { $0.service == service }.map(\.model)).count))]
        })

        // A plain ORDER BY on a dictionary column comes back sorted too.
        let ordered = try await rows(engine, "SELECT service FROM spans ORDER BY service").map { $0[0].text }
        #expect(ordered == sent.map(\.service).sorted())

        // One trace, and a join with the index's trace summaries (blob ids on one side, hex on the other).
        let target = sent[1000]
        let hex = Hex.string(target.traceID)
        #expect(try await rows(engine, "SELECT span_id, service FROM spans WHERE trace_id = ?", [.text(hex)])
            == [[.text(Hex.string(target.spanID)), .text(target.service)]])
        let sealedTarget = sent[100]
        let joined = try await rows(engine, """
            SELECT t.span_count, s.service, s.trace_id FROM traces t JOIN spans s ON s.trace_id = t.trace_id
            WHERE t.trace_id = ?
            """, [.blob(sealedTarget.traceID.bytes)])
        #expect(joined == [[.integer(1), .text(sealedTarget.service), .text(Hex.string(sealedTarget.traceID))]])
        let traceJoin = try await rows(engine, """
            SELECT count(*) FROM traces t JOIN spans s ON s.trace_id = lower(hex(t.trace_id)) WHERE t.start_ns < ?
            """, [.integer(Int64(baseTime + Self.hour))])
        #expect(traceJoin == [[.integer(200)]])

        // attr() reads the attributes JSON; unix_ns and iso_time convert times.
        let notes = try await rows(engine, "SELECT attr(attributes, 'app.note'), attr(attributes, 'gen_ai.usage.output_tokens') FROM spans WHERE span_id = ?",
                                   [.text(Hex.string(sent.first { !$0.model.isEmpty }!.spanID))])
        #expect(notes.count == 1 && notes[0][1] == .integer(7))
        #expect(try await rows(engine, "SELECT iso_time(unix_ns('2026-11-21T10:00:00.5Z'))") == [[.text("2026-11-21T10:00:00.500Z")]])
    }

    /// The cursor builds a row's JSON column once for all its mentions: each row still reads its own.
    @Test func aJSONColumnNamedSeveralTimesReadsEachRowsOwnValue() async throws {
        let fixture = try await makeStore()
        defer { fixture.directory.remove() }
        let engine = fixture.store.sqlEngine(limits: SQLLimits())
        let answer = try await rows(engine, """
            SELECT attr(attributes, 'app.note'), json_extract(attributes, '$."app.note"'), length(attributes) > 0,
                   json_extract(resource, '$."service.name"'), service, attr(resource, 'service.name')
            FROM spans WHERE model IS NOT NULL
            """)
        #expect(answer.count == fixture.sent.filter { !$0.model.isEmpty }.count)
        #expect(Set(answer.compactMap { row -> String? in if case .text(let note) = row[0] { note } else { nil } }).count == 200)
        for row in answer {
            #expect(row[0] == row[1] && row[2] == .integer(1), "\(row)")
            #expect(row[3] == row[4] && row[4] == row[5], "\(row)")
        }
        try await fixture.store.close()
    }

    @Test func timeBoundsPruneSegmentsAndBlocks() async throws {
        let fixture = try await makeStore()
        defer { fixture.directory.remove() }
        let engine = fixture.store.sqlEngine(limits: SQLLimits())
        let all = try await engine.run("SELECT sum(input_tokens) FROM spans")
        // The second hour only: one of four segments, and within it only its blocks.
        let since = baseTime + Self.hour, until = baseTime + 2 * Self.hour
        let bounded = try await engine.run("SELECT count(*), sum(input_tokens) FROM spans WHERE start_time_ns >= ? AND start_time_ns < ?",
                                           parameters: [.integer(Int64(since)), .integer(Int64(until))])
        let expected = fixture.sent.filter { $0.start >= since && $0.start < until }
        #expect(bounded.rows == [[.integer(Int64(expected.count)), .integer(expected.reduce(0) { $0 + $1.inputTokens })]])
        #expect(bounded.scan.segments == 1)
        #expect(bounded.scan.blocks == 4, "200 spans in blocks of 50")
        #expect(all.scan.blocks == 16)
        // A service constraint prunes by the zone maps too, and the answer stays exact.
        let chat = try await engine.run("SELECT count(*) FROM spans WHERE service = 'chat'")
        #expect(chat.rows == [[.integer(Int64(fixture.sent.filter { $0.service == "chat" }.count))]])
        // Unsealed only: the last two hours are in memory, no block is read.
        let recent = try await engine.run("SELECT count(*) FROM spans WHERE start_time_ns >= ?", parameters: [.integer(Int64(baseTime + 4 * Self.hour))])
        #expect(recent.rows == [[.integer(400)]])
        #expect(recent.scan.blocks == 0)
    }

    @Test func aSealBetweenStatementsNeitherLosesNorDoublesSpans() async throws {
        let fixture = try await makeStore()
        defer { fixture.directory.remove() }
        let engine = fixture.store.sqlEngine(limits: SQLLimits())
        #expect(try await rows(engine, "SELECT count(*), count(DISTINCT span_id) FROM spans") == [[.integer(1200), .integer(1200)]])
        try await fixture.store.seal()
        #expect(try await rows(engine, "SELECT count(*), count(DISTINCT span_id) FROM spans") == [[.integer(1200), .integer(1200)]])
        // The CLI's engine reads the same directory, unsealed records from the WAL files.
        try await fixture.store.write([SpanNormalizer(pricing: pricing).normalize(try SpanBatch.decodeProtobuf({
            var builder = OTLPPayloadBuilder()
            builder.add(.init(traceID: TraceID(high: 9, low: 9), spanID: 99))
            return builder.payload()
        }()))])
        let offline = try SQLEngine.offline(dataDirectory: fixture.directory.path, pricing: pricing, limits: SQLLimits())
        #expect(try await rows(offline, "SELECT count(*) FROM spans") == [[.integer(1201)]])
    }

    @Test(arguments: [
        "INSERT INTO store_state VALUES ('x', 1)",
        "DELETE FROM traces",
        "UPDATE segments SET state = 'missing'",
        "UPDATE sqlite_master SET sql = '' WHERE name = 'traces'",
        "DROP TABLE traces",
        "CREATE TABLE t (x)",
        "CREATE TEMP TABLE t (x)",
        "CREATE TEMP VIEW v AS SELECT 1",
        "CREATE TRIGGER t AFTER INSERT ON traces BEGIN DELETE FROM traces; END",
        "ATTACH DATABASE ':memory:' AS other",
        "PRAGMA writable_schema = 1",
        "PRAGMA query_only = 0",
        "PRAGMA journal_mode = DELETE",
        "SELECT load_extension('/tmp/evil.so')",
        "WITH doomed AS (SELECT trace_id FROM traces) DELETE FROM traces WHERE trace_id IN (SELECT trace_id FROM doomed)",
        "BEGIN IMMEDIATE",
        "VACUUM",
        "REINDEX",
        "ANALYZE",
    ])
    func writesAndEscapesAreRefused(_ sql: String) async throws {
        let fixture = try await makeStore(sealedBatches: 1)
        defer { fixture.directory.remove() }
        let engine = fixture.store.sqlEngine(limits: SQLLimits())
        do {
            _ = try await engine.run(sql)
            Issue.record("ran: \(sql)")
        } catch {
            #expect(error.kind == .forbidden, "\(sql): \(error)")
        }
        // Trace summaries are written when spans are sealed: one batch of 200.
        #expect(try await rows(engine, "SELECT count(*) FROM traces") == [[.integer(200)]])
        #expect(try await rows(engine, "PRAGMA table_info(traces)").count > 5)
    }

    @Test(arguments: [
        "WITH RECURSIVE forever(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM forever) SELECT count(*) FROM forever",
        "SELECT count(*) FROM spans a, spans b, spans c",
    ])
    func runawayStatementsStopAtTheTimeLimit(_ sql: String) async throws {
        let fixture = try await makeStore()
        defer { fixture.directory.remove() }
        let engine = fixture.store.sqlEngine(limits: SQLLimits(timeout: .milliseconds(300)))
        let started = ContinuousClock.now
        do {
            _ = try await engine.run(sql)
            Issue.record("finished: \(sql)")
        } catch {
            #expect(error.kind == .timeout, "\(error)")
        }
        #expect(started.duration(to: .now) < .seconds(20))
    }

    @Test func theRowLimitIsAnErrorAndARequestLimitTruncates() async throws {
        let fixture = try await makeStore(sealedBatches: 2)
        defer { fixture.directory.remove() }
        let engine = fixture.store.sqlEngine(limits: SQLLimits(maxRows: 100))
        await #expect(throws: SQLError.self) { _ = try await engine.run("SELECT * FROM spans") }
        do {
            _ = try await engine.run("SELECT span_id FROM spans")
        } catch {
            #expect(error.kind == .tooManyRows)
        }
        let page = try await engine.run("SELECT span_id, attributes, resource, events, links FROM spans", limit: 10)
        #expect(page.rows.count == 10 && page.truncated)
        let whole = try await engine.run("SELECT span_id FROM spans LIMIT 5", limit: 10)
        #expect(whole.rows.count == 5 && !whole.truncated)
    }

    @Test func badSQLGetsSQLitesMessageAndPosition() async throws {
        let fixture = try await makeStore(sealedBatches: 1)
        defer { fixture.directory.remove() }
        let engine = fixture.store.sqlEngine(limits: SQLLimits())
        do {
            _ = try await engine.run("SELECT nope FROM spans")
            Issue.record("ran")
        } catch {
            #expect(error.kind == .invalid)
            #expect(error.message.contains("no such column: nope"))
            #expect(error.offset == 7)
        }
        do {
            _ = try await engine.run("SELECT 1; SELECT 2")
            Issue.record("ran two statements")
        } catch {
            #expect(error.kind == .invalid)
        }
        await #expect(throws: SQLError.self) { _ = try await engine.run("SELECT ?", parameters: []) }
    }

    @Test func aCorruptBlockIsFencedAndEveryOtherRowStillAnswers() async throws {
        let fixture = try await makeStore(sealedBatches: 1)
        defer { fixture.directory.remove() }
        let segments = try FileManager.default.contentsOfDirectory(atPath: fixture.directory.path + "/segments")
        let path = fixture.directory.path + "/segments/" + segments.first { $0.hasSuffix(".seg") }!
        let nameChunk = try SegmentReader(path: path).footer.blocks[0].chunk(.name)!
        var bytes = try readFile(path)
        bytes[nameChunk.offset] ^= 0xFF
        try writeFile(path, bytes)
        let engine = fixture.store.sqlEngine(limits: SQLLimits())
        // What a statement does not read is answered whole: the damage is in the name column only.
        #expect(try await rows(engine, "SELECT count(*) FROM spans") == [[.integer(1200)]])
        let blockRows = try SegmentReader(path: path).footer.blocks[0].rows
        let first = try await engine.run("SELECT count(*), sum(length(name)) FROM spans")
        #expect(first.rows[0][0] == .integer(Int64(1200 - blockRows)))
        #expect(first.scan.blocksFenced == 1)
        #expect(first.scan.warnings.count == 1)
        #expect(first.scan.warnings.first?.contains("block 0 of segment") == true, "\(first.scan.warnings)")
        #expect(first.scan.warnings.first?.contains("checksum") == true, "\(first.scan.warnings)")
        #expect(first.scan.warnings.first?.contains(fixture.directory.path) == false, "\(first.scan.warnings)")
        // Fenced from now on, for every statement: they move past it without reading it.
        let again = try await engine.run("SELECT count(*) FROM spans")
        #expect(again.rows == [[.integer(Int64(1200 - blockRows))]])
        #expect(again.scan.blocksFenced == 1 && again.scan.blocks < first.scan.blocks)
    }

    /// A store holding the real OTLP log and metric fixtures, sealed in blocks of 2 records.
    func makeSignalStore(_ directory: TemporaryDirectory) async throws -> (store: SpanStore, logs: LogBatch, metrics: MetricBatch) {
        let configuration = SpanStoreConfiguration(dataDirectory: directory.path, walSync: .never, segmentMaxAge: .seconds(3_600), blockRows: 2)
        let store = try await SpanStore.open(configuration: configuration, pricing: pricing, logger: Logger(label: "test"))
        let logs = try LogBatch.decodeProtobuf(WireFixtures.bytes("logs.pb"))
        let metrics = try MetricBatch.decodeProtobuf(WireFixtures.bytes("metrics.pb"))
        try await store.writeLogs(logs)
        try await store.writeMetrics(metrics)
        try await store.seal()
        return (store, logs, metrics)
    }

    @Test func logsAndMetricPointsAreTablesToo() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (store, logs, metrics) = try await makeSignalStore(directory)
        try await store.writeLogs(logs)
        let engine = store.sqlEngine(limits: SQLLimits())
        #expect(try await rows(engine, "SELECT count(*) FROM logs") == [[.integer(Int64(2 * logs.count))]])
        #expect(try await rows(engine, "SELECT count(*) FROM metric_points") == [[.integer(Int64(metrics.count))]])
        let names = try await rows(engine, "SELECT DISTINCT metric_name FROM metric_points ORDER BY 1").map { $0[0].text }
        #expect(names == Set((0..<metrics.metrics.count).map { metrics.string(metrics.metrics.names[$0]) }).sorted())
        let first = names[0]
        let one = try await rows(engine, "SELECT count(*) FROM metric_points WHERE metric_name = ?", [.text(first)])
        let expected = (0..<metrics.count).filter { metrics.string(metrics.metrics.names[Int(metrics.metricIndices[$0])]) == first }.count
        #expect(one == [[.integer(Int64(expected))]])
        let withTrace = (0..<logs.count).first { !logs.traceIDs[$0].isZero }
        if let withTrace {
            let hex = Hex.string(logs.traceIDs[withTrace])
            let found = try await rows(engine, "SELECT count(*) FROM logs WHERE trace_id = ?", [.text(hex)])
            let expectedLogs = 2 * (0..<logs.count).filter { logs.traceIDs[$0] == logs.traceIDs[withTrace] }.count
            #expect(found == [[.integer(Int64(expectedLogs))]])
        }
        let columns = try await engine.run("SELECT * FROM logs LIMIT 1").columns
        #expect(columns.contains("body") && columns.contains("severity_number"))
    }

    /// Each column of `logs` and `metric_points` read alone (only its stored columns decoded)
    /// equals the same column of a `SELECT *`, and a corrupt chunk fails only the statements
    /// that read it: what a statement does not use is not even decompressed.
    @Test func logsAndMetricPointsDecodeOnlyTheColumnsUsed() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (store, logs, metrics) = try await makeSignalStore(directory)
        let engine = store.sqlEngine(limits: SQLLimits())
        for table in ["logs", "metric_points"] {
            let all = try await engine.run("SELECT * FROM \(table)")
            #expect(!all.rows.isEmpty)
            for (index, column) in all.columns.enumerated() {
                let alone = try await rows(engine, "SELECT \(column) FROM \(table)")
                #expect(alone == all.rows.map { [$0[index]] }, "\(table).\(column)")
            }
        }

        let pointSums = try await rows(engine, "SELECT metric_name, type, sum(value), max(time_ns) FROM metric_points GROUP BY 1, 2")
        #expect(pointSums.count >= 3)
        // Corrupt every block's log bodies and metric point attributes.
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/segments")
        for (suffix, column) in [(".logs.seg", LogColumn.body.rawValue), (".metrics.seg", MetricColumn.attributes.rawValue)] {
            let path = directory.path + "/segments/" + names.first { $0.hasSuffix(suffix) }!
            var bytes = try readFile(path)
            for block in try SegmentReader(path: path).footer.blocks {
                let chunk = try #require(block.chunks.first { $0.column == column })
                bytes[chunk.offset] ^= 0xFF
            }
            try writeFile(path, bytes)
        }
        let fresh = store.sqlEngine(limits: SQLLimits())
        // Statements that do not read the damaged columns answer whole.
        let severities = (0..<logs.count).reduce(Int64(0)) { $0 + Int64(logs.severityNumbers[$1]) }
        #expect(try await rows(fresh, "SELECT count(*), sum(severity_number), count(DISTINCT service) FROM logs")
            == [[.integer(Int64(logs.count)), .integer(severities),
                 .integer(Int64(Set(logs.resourceServiceNames().compactMap { $0 }).count))]])
        let metricNames = Set((0..<metrics.metrics.count).map { metrics.string(metrics.metrics.names[$0]) })
        #expect(try await rows(fresh, "SELECT count(*), count(DISTINCT metric_name) FROM metric_points")
            == [[.integer(Int64(metrics.count)), .integer(Int64(metricNames.count))]])
        #expect(try await rows(fresh, "SELECT metric_name, type, sum(value), max(time_ns) FROM metric_points GROUP BY 1, 2") == pointSums)
        // Those that do move past the damaged blocks (fenced from then on) and say so.
        for statement in ["SELECT body FROM logs", "SELECT attributes FROM metric_points", "SELECT point FROM metric_points"] {
            let result = try await fresh.run(statement)
            #expect(result.rows.isEmpty, "\(statement)")
            #expect(result.scan.blocksFenced > 0, "\(statement)")
            #expect(result.scan.warnings.allSatisfy { $0.contains("checksum") && !$0.contains(directory.path) }, "\(result.scan.warnings)")
        }
    }
}
