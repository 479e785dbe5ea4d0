import Foundation
import Logging
import PyFlareModel
import PyFlareTesting
import Testing
@testable import PyFlareStore
@testable import PyFlareSQL

/// The quantile sketch: accuracy against exact quantiles, exact merging, its canonical bytes,
/// and the SQL functions over it.
struct LatencySketchTests {
    static let quantiles = [0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1]

    static func sketch(_ values: some Sequence<Int64>) -> LatencySketch {
        var sketch = LatencySketch()
        for value in values { sketch.add(value) }
        return sketch
    }

    /// Named distributions of 20,000 values.
    static func distribution(_ name: String) -> [Int64] {
        var random = SeededGenerator(seed: 42)
        let uniform = { (random: inout SeededGenerator) in Double(random.next() >> 11) / 0x1p53 }
        return (0..<20_000).map { _ in
            switch name {
            case "uniform": return Int64.random(in: 1...10_000_000_000, using: &random)
            case "log-normal":
                // Box-Muller: a normal deviate, then a median of 50 ms with a long right tail.
                let normal = (-2 * log(1 - uniform(&random))).squareRoot() * cos(2 * .pi * uniform(&random))
                return Int64(50_000_000 * exp(1.5 * normal))
            case "constant": return 1_234_567
            case "with zeros": return random.next() % 3 == 0 ? 0 : Int64(random.next() % 1_000)
            default: fatalError(name)
            }
        }
    }

    @Test(arguments: ["uniform", "log-normal", "constant", "with zeros"])
    func quantilesAreWithinOnePercentOfExact(_ name: String) {
        let values = Self.distribution(name)
        let sketch = Self.sketch(values)
        let sorted = values.sorted()
        #expect(sketch.count == Int64(values.count))
        #expect(sketch.minimum == sorted.first && sketch.maximum == sorted.last)
        for q in Self.quantiles {
            let exact = sorted[Int((q * Double(sorted.count - 1)).rounded(.down))]
            let estimate = try! #require(sketch.quantile(q))
            // 1% of the value, plus the rounding to whole nanoseconds.
            #expect(Double(abs(estimate - exact)) <= 0.01 * Double(exact) + 0.5, "\(name) q=\(q): \(estimate) for \(exact)")
        }
        #expect(sketch.quantile(0) == sorted.first)
        #expect(sketch.quantile(1) == sorted.last)
    }

    @Test func valuesBelowFiftyAreExactAndNegativesCountAsZeros() {
        let values: [Int64] = Array(0..<50) + [-7]
        let sketch = Self.sketch(values)
        let sorted = values.sorted()
        for q in stride(from: 0.01, through: 1.0, by: 0.01) {
            #expect(sketch.quantile(q) == max(0, sorted[Int((q * Double(sorted.count - 1)).rounded(.down))]), "q=\(q)")
        }
        #expect(sketch.quantile(0) == -7)
        #expect(sketch.minimum == -7 && sketch.maximum == 49)
    }

    @Test func anEmptySketchHasNoQuantilesAndSixBytes() throws {
        let empty = LatencySketch()
        #expect(empty.count == 0 && empty.minimum == nil && empty.maximum == nil)
        #expect(empty.quantile(0.5) == nil && empty.quantile(0) == nil)
        #expect(empty.serialized() == [1, 0, 0, 0, 0, 0])
        #expect(try LatencySketch(serialized: empty.serialized()) == empty)
        #expect(Self.sketch([5]).quantile(-0.1) == nil && Self.sketch([5]).quantile(.nan) == nil)
    }

    @Test func mergingPartsEqualsTheSketchOfTheWhole() throws {
        for name in ["uniform", "log-normal", "with zeros"] {
            let values = Self.distribution(name)
            var random = SeededGenerator(seed: 3)
            var parts = [[Int64]](repeating: [], count: 3)
            for value in values { parts[Int(random.next() % 3)].append(value) }
            let whole = Self.sketch(values)
            var merged = LatencySketch()
            for part in parts { merged.merge(Self.sketch(part)) }
            #expect(merged == whole)
            #expect(merged.serialized() == whole.serialized())
            // Any order, and empty sketches change nothing.
            var reversed = Self.sketch(parts[2])
            reversed.merge(LatencySketch())
            reversed.merge(Self.sketch(parts[1]))
            reversed.merge(Self.sketch(parts[0]))
            #expect(reversed.serialized() == whole.serialized())
        }
    }

    @Test func serializationRoundTrips() throws {
        for name in ["uniform", "log-normal", "constant", "with zeros"] {
            let sketch = Self.sketch(Self.distribution(name))
            let bytes = sketch.serialized()
            let decoded = try LatencySketch(serialized: bytes)
            #expect(decoded == sketch)
            #expect(decoded.serialized() == bytes)
            #expect(bytes.count < 2_000, "\(name): \(bytes.count) bytes")
            // Any collection of bytes reads, not only arrays.
            #expect(try LatencySketch(serialized: bytes[...]) == sketch)
        }
        let extremes = Self.sketch([.min, -1, 0, 1, .max])
        #expect(try LatencySketch(serialized: extremes.serialized()) == extremes)
        #expect(extremes.quantile(1) == .max && extremes.quantile(0) == .min && extremes.quantile(0.99) == 1)
    }

    func rejection(_ bytes: [UInt8]) -> String? {
        do {
            _ = try LatencySketch(serialized: bytes)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func malformedBytesAreRejected() {
        let bytes = Self.sketch(Self.distribution("log-normal")).serialized()
        for length in 0..<bytes.count {
            #expect(rejection(Array(bytes.prefix(length))) != nil, "accepted \(length) of \(bytes.count) bytes")
        }
        #expect(rejection([]) == "invalid latency sketch: no bytes (not even the format version)")
        #expect(rejection([2] + bytes.dropFirst()) == "invalid latency sketch: unknown format version 2 (this build reads version 1)")
        #expect(rejection([1, 0, 0]) == "invalid latency sketch: truncated in the maximum, at byte 3")
        #expect(rejection(bytes + [0])?.contains("trailing bytes after the last bucket, from byte \(bytes.count)") == true)
        // count 1, min 5, max 5, no zeros, one bucket with key 81 (2 × 81 = 0xA2 0x01 as zigzag), count 1
        let single = Self.sketch([5]).serialized()
        #expect(single == [1, 1, 10, 10, 0, 1, 0xA2, 0x01, 1])
        #expect(rejection([1, 2, 10, 10, 0, 1, 0xA2, 0x01, 1])?.contains("is not the sum") == true)
        #expect(rejection([1, 1, 10, 10, 0, 1, 0xA2, 0x01, 0])?.contains("count of 0") == true)
        #expect(rejection([1, 1, 10, 10, 0, 1, 0xA2, 0x81, 0x00, 1])?.contains("overlong") == true)
        #expect(rejection([1, 1, 10, 8, 0, 1, 0xA2, 0x01, 1])?.contains("disagree") == true)
        #expect(rejection([1, 2, 10, 10, 0, 2, 0xA2, 0x01, 1, 0, 1])?.contains("not strictly ascending") == true)
        #expect(rejection([1] + [UInt8](repeating: 0xFF, count: 10) + [1])?.contains("overflows 64 bits") == true)
    }

    // MARK: SQL

    /// Runs `body` with the SQL engine of an empty store.
    func withEngine(_ body: (SQLEngine) async throws -> Void) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let configuration = SpanStoreConfiguration(dataDirectory: directory.path, walSync: .never)
        let store = try await SpanStore.open(configuration: configuration, pricing: PricingTable.builtIn(), logger: Logger(label: "test"))
        do {
            try await body(store.sqlEngine(limits: SQLLimits()))
        } catch {
            try? await store.close()
            throw error
        }
        try await store.close()
    }

    /// 1 to 1000, and one NULL.
    static let numbers = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1000), t(x) AS (SELECT x FROM n UNION ALL SELECT NULL)"

    @Test func sqlFunctionsBuildMergeAndReadSketches() async throws {
        try await withEngine { engine in try await sqlFunctionsBuildMergeAndReadSketches(engine) }
    }

    func sqlFunctionsBuildMergeAndReadSketches(_ engine: SQLEngine) async throws {
        let whole = Self.sketch(1...1_000)

        let answer = try await engine.run("""
            \(Self.numbers) SELECT latency_sketch(x), sketch_quantile(latency_sketch(x), 0.5),
              sketch_quantile(latency_sketch(x), 1), sketch_count(latency_sketch(x)) FROM t
            """)
        #expect(answer.rows == [[.blob(whole.serialized()), .integer(whole.quantile(0.5)!), .integer(1_000), .integer(1_000)]])

        // Sketches of groups merge into the sketch of all rows; NULL sketches are skipped.
        let merged = try await engine.run("""
            \(Self.numbers) SELECT sketch_merge(s), sketch_count(sketch_merge(s)) FROM (
              SELECT x % 3 AS g, latency_sketch(x) AS s FROM t GROUP BY g UNION ALL SELECT 9, NULL)
            """)
        #expect(merged.rows == [[.blob(whole.serialized()), .integer(1_000)]])

        // No rows: the empty sketch, never NULL; its quantiles are NULL.
        let emptyBlob = SQLValue.blob(LatencySketch().serialized())
        let empty = try await engine.run("""
            \(Self.numbers) SELECT latency_sketch(x), sketch_merge(NULL), sketch_quantile(latency_sketch(x), 0.5),
              sketch_count(latency_sketch(x)), sketch_count(NULL) FROM t WHERE x < 0
            """)
        #expect(empty.rows == [[emptyBlob, emptyBlob, .null, .integer(0), .null]])
    }

    @Test(arguments: [
        ("SELECT sketch_merge(x'02')", "sketch_merge(): invalid latency sketch: unknown format version 2"),
        ("SELECT sketch_merge(x'010100')", "sketch_merge(): invalid latency sketch: truncated in the maximum"),
        ("SELECT sketch_merge('text')", "sketch_merge() takes a sketch BLOB"),
        ("SELECT sketch_quantile(x'0100000000', 0.5)", "sketch_quantile(): invalid latency sketch: truncated"),
        ("SELECT sketch_quantile(latency_sketch(5), 1.5)", "sketch_quantile() takes a quantile between 0 and 1"),
        ("SELECT sketch_count(x'01000000000000')", "sketch_count(): invalid latency sketch: trailing bytes"),
        ("SELECT latency_sketch('slow')", "latency_sketch() takes integer nanoseconds"),
    ])
    func malformedArgumentsAreSQLErrors(_ sql: String, _ message: String) async throws {
        try await withEngine { engine in
            do throws(SQLError) {
                _ = try await engine.run(sql)
                Issue.record("ran: \(sql)")
            } catch {
                #expect(error.kind == .invalid)
                #expect(error.message.contains(message), "\(error.message)")
            }
        }
    }
}
