import Foundation
import Testing
import PyFlareModel
import PyFlareStore
import PyFlareTesting
import PyFlareWire

func normalizedBatch(spans: Int, seed: UInt64, attributes: [(String, AttributeValue)] = []) -> NormalizedBatch {
    var random = SeededGenerator(seed: seed)
    var builder = OTLPPayloadBuilder()
    for index in 0..<spans {
        var span = OTLPPayloadBuilder.Span(traceID: random.traceID(), spanID: random.next() | 1)
        span.name = "span-\(seed)-\(index)"
        span.attributes = attributes
        builder.add(span)
    }
    return SpanNormalizer().normalize(try! SpanBatch.decodeProtobuf(builder.payload()))
}

func readLines(_ directory: String) throws -> [String: [[String: Any]]] {
    var files: [String: [[String: Any]]] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: directory) where name.hasSuffix(".jsonl") {
        let text = try String(contentsOfFile: directory + "/" + name, encoding: .utf8)
        files[name] = try text.split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
    }
    return files
}

struct JSONLinesFileSinkTests {
    @Test func writesOneParsableLinePerSpanWithTypedAttributes() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let sink = try JSONLinesFileSink(configuration: .init(directory: directory.path), pricing: .builtIn())
        let batch = normalizedBatch(spans: 3, seed: 1, attributes: [
            ("gen_ai.request.model", .string("gpt-4o")), ("gen_ai.usage.input_tokens", .int(1000)),
            ("gen_ai.usage.output_tokens", .int(500)), ("ratio", .double(.nan)), ("flag", .bool(true)),
            ("blob", .bytes([0, 1, 255])), ("list", .array([.int(1), .string("a\"b")])),
            ("map", .keyValueList([("k", .double(2.5))])), ("nothing", .empty), ("text", .string("line\nbreak \u{1F600}")),
        ])
        try await sink.write([batch])
        try await sink.close()
        let lines = try #require(try readLines(directory.path)["spans.jsonl"])
        #expect(lines.count == 3)
        let attributes = try #require(lines[0]["attributes"] as? [String: Any])
        #expect(attributes["gen_ai.usage.input_tokens"] as? Int == 1000)
        #expect(attributes["ratio"] as? String == "NaN")
        #expect(attributes["flag"] as? Bool == true)
        #expect((attributes["blob"] as? [String: String])?["bytes"] == "AAH/")
        #expect((attributes["list"] as? [Any])?.count == 2)
        #expect(attributes["nothing"] is NSNull)
        #expect(attributes["text"] as? String == "line\nbreak \u{1F600}")
        let pyflare = try #require(lines[0]["pyflare"] as? [String: Any])
        #expect(pyflare["model"] as? String == "gpt-4o")
        #expect(pyflare["cost_micros"] as? Int == 7_500)
        #expect(pyflare["cost_source"] as? String == "pricing")
        #expect(pyflare["price_model"] as? String == "gpt-4o")
        #expect(pyflare["service"] as? String == "test-service")
    }

    @Test func writesLogRecordsAndMetricPointsToTheirOwnFiles() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let logs = try LogBatch.decodeProtobuf(wireFixture("logs.pb"))
        let metrics = try MetricBatch.decodeProtobuf(wireFixture("metrics.pb"))
        // Small files: each signal rotates on its own, and no line is lost or split.
        let sink = try JSONLinesFileSink(configuration: .init(directory: directory.path, maxFileBytes: 4096, maxFiles: 0),
                                         pricing: .builtIn())
        try await sink.writeLogs(logs)
        try await sink.writeMetrics(metrics)
        try await sink.writeLogs(logs)
        try await sink.close()
        let files = try readLines(directory.path)
        let logLines = files.filter { $0.key.hasPrefix("logs.") }.values.flatMap { $0 }
        let metricLines = files.filter { $0.key.hasPrefix("metrics.") }.values.flatMap { $0 }
        #expect(logLines.count == 2 * logs.count)
        #expect(metricLines.count == metrics.count)
        #expect(files["spans.jsonl"] == nil, "no spans, no file")
        #expect(files.keys.contains { $0.hasPrefix("logs.") && $0 != "logs.jsonl" }, "rotated: \(files.keys.sorted())")

        #expect(logLines.compactMap { $0["severity_number"] as? Int }.sorted()
                == (0..<2 * logs.count).map { Int(logs.severityNumbers[$0 % logs.count]) }.sorted())
        let traced = (0..<logs.count).filter { logs.traceIDs[$0] != .zero }.map { Hex.string(logs.traceIDs[$0]) }
        #expect(logLines.compactMap { $0["trace_id"] as? String }.sorted() == (traced + traced).sorted())

        var names: [String: Int] = [:]
        for line in metricLines {
            let metric = try #require(line["metric"] as? [String: Any])
            names[try #require(metric["name"] as? String), default: 0] += 1
            #expect(MetricType(name: metric["type"] as? String ?? "") != nil)
            #expect(line["time_unix_nano"] is NSNumber && line["exemplars"] is [Any])
        }
        var expectedNames: [String: Int] = [:]
        for row in 0..<metrics.count {
            expectedNames[metrics.string(metrics.metrics.names[Int(metrics.metricIndices[row])]), default: 0] += 1
        }
        #expect(names == expectedNames)
    }

    @Test func theCountingSinkCountsEverySignal() async throws {
        let sink = CountingSink()
        let logs = try LogBatch.decodeProtobuf(wireFixture("logs.pb"))
        let metrics = try MetricBatch.decodeProtobuf(wireFixture("metrics.pb"))
        try await sink.writeLogs(logs)
        try await sink.writeMetrics(metrics)
        #expect(sink.logRecordCount == logs.count && sink.metricPointCount == metrics.count)
    }

    @Test func rotatesBetweenLinesAndKeepsEverySpanOnce() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let sink = try JSONLinesFileSink(configuration: .init(directory: directory.path, maxFileBytes: 4_096, maxFiles: 0), pricing: .builtIn())
        for seed in 1...10 { try await sink.write([normalizedBatch(spans: 20, seed: UInt64(seed))]) }
        try await sink.close()
        let files = try readLines(directory.path)
        #expect(files.count > 5)
        let names = files.values.flatMap { $0.compactMap { $0["name"] as? String } }
        #expect(names.count == 200)
        #expect(Set(names).count == 200)
        for name in files.keys {
            let size = try FileManager.default.attributesOfItem(atPath: directory.path + "/" + name)[.size] as! Int
            #expect(size <= 4_096, "\(name) is \(size) bytes")
        }
        // Rotated files are numbered 1, 2, … without gaps.
        let rotated = files.keys.filter { $0 != "spans.jsonl" }.compactMap { Int($0.split(separator: ".")[1]) }.sorted()
        #expect(rotated == Array(1...rotated.count))
    }

    @Test func keepsOnlyTheNewestRotatedFilesAndContinuesNumberingAfterRestart() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let configuration = JSONLinesFileSink.Configuration(directory: directory.path, maxFileBytes: 2_048, maxFiles: 2)
        var sink = try JSONLinesFileSink(configuration: configuration, pricing: .builtIn())
        for seed in 1...5 { try await sink.write([normalizedBatch(spans: 10, seed: UInt64(seed))]) }
        try await sink.close()
        let before = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0 != "spans.jsonl" }
        #expect(before.count == 2)
        let highest = before.compactMap { Int($0.split(separator: ".")[1]) }.max()!
        sink = try JSONLinesFileSink(configuration: configuration, pricing: .builtIn())
        for seed in 6...8 { try await sink.write([normalizedBatch(spans: 10, seed: UInt64(seed))]) }
        try await sink.close()
        let after = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0 != "spans.jsonl" }
        #expect(after.compactMap { Int($0.split(separator: ".")[1]) }.min()! > highest - 1)
    }
}
