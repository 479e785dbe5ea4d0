import Benchmark
import Foundation
import PyFlareModel
import PyFlareWire

/// Decoding and normalization of the reference workload's payloads (`../shared/bench/loadgen.py`,
/// 500 spans per request). `make bench` writes the payloads to `.build-bench/payloads/`;
/// PYFLARE_BENCH_PAYLOADS points elsewhere.
let benchmarks: @Sendable () -> Void = {
    let directory = ProcessInfo.processInfo.environment["PYFLARE_BENCH_PAYLOADS"] ?? ".build-bench/payloads"
    guard let protobuf = FileManager.default.contents(atPath: directory + "/payload.pb").map(Array.init),
          let json = FileManager.default.contents(atPath: directory + "/payload.json").map(Array.init) else {
        fatalError("benchmark payloads missing in \(directory); run `make bench`")
    }
    let spansPerPayload = (try? SpanBatch.decodeProtobuf(protobuf).count) ?? 0
    let normalizer = SpanNormalizer()

    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .throughput, .mallocCountTotal, .peakMemoryResident],
        maxDuration: .seconds(5), maxIterations: 100_000)

    // One iteration decodes one payload; spans/s = throughput × spans per payload.
    Benchmark("decode protobuf (\(spansPerPayload) spans, \(protobuf.count) bytes)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try SpanBatch.decodeProtobuf(protobuf))
        }
    }
    Benchmark("decode protobuf + normalize (\(spansPerPayload) spans)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(normalizer.normalize(try SpanBatch.decodeProtobuf(protobuf)))
        }
    }
    Benchmark("decode OTLP/JSON (\(spansPerPayload) spans, \(json.count) bytes)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try SpanBatch.decodeJSON(json))
        }
    }
}
