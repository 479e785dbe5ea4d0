import Benchmark
import Foundation
import PyFlareModel
import PyFlareStore
import PyFlareWire

/// The store's CPU work per span, on distinct payloads of the reference workload
/// (`scripts/bench_store.py payloads`, written by `make bench` to `.build-bench/payloads/`):
/// the WAL record every acknowledged request pays for, and the segment build that sealing
/// pays for.
let benchmarks: @Sendable () -> Void = {
    let directory = ProcessInfo.processInfo.environment["PYFLARE_BENCH_PAYLOADS"] ?? ".build-bench/payloads"
    let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
        .filter { $0.hasPrefix("pool-") && $0.hasSuffix(".pb") }.sorted()
    guard !files.isEmpty else { fatalError("benchmark payloads missing in \(directory); run `make bench`") }
    let normalizer = SpanNormalizer()
    let pricing = PricingTable.builtIn()
    let batches = files.map { file in
        normalizer.normalize(try! SpanBatch.decodeProtobuf(Array(FileManager.default.contents(atPath: directory + "/" + file)!)))
    }
    let spans = batches.reduce(0) { $0 + $1.spans.count }

    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .throughput, .mallocCountTotal, .peakMemoryResident],
        maxDuration: .seconds(5), maxIterations: 100_000)

    // One iteration encodes one request's spans into a WAL record.
    Benchmark("WAL record encode (\(batches[0].spans.count) spans)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(WALPayload.encode([batches[0]], pricing: pricing))
        }
    }
    // One iteration sorts, encodes and compresses every payload into one segment.
    let writer = SegmentWriter(blockRows: 1024, pricing: pricing)
    Benchmark("segment build (\(spans) spans, 1,024-span blocks)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(writer.build(batches))
        }
    }
}
