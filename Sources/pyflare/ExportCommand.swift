import Logging
import ArgumentParser
import Foundation
import PyFlareExport
import PyFlareModel
import PyFlareServer
import PyFlareStore
import PyFlareSQL
import PyFlareWire

/// `pyflare export parquet`: sealed segments of a time range as Parquet files, against a data
/// directory whether the server runs or not (segments are immutable; one a compaction
/// replaces meanwhile is reported and skipped).
struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Export stored data.", subcommands: [Parquet.self])

    struct Parquet: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the sealed segments of a time range as Parquet files (docs/parquet.md).",
            discussion: """
                Every active segment holding records of the range becomes one file per UTC day, \
                DIR/kind=<spans|logs|metric_points>/date=YYYY-MM-DD/<segment>.parquet, with the \
                rows of the range only and the columns of the kind's SQL table. Records not \
                sealed yet are not exported (stopping the server seals them). Files are replaced \
                whole, so running it again over the same range rewrites the same files.
                """)

        @Option(help: "Start of the range: RFC 3339 (2026-12-01T00:00:00Z) or unix nanoseconds (default: everything).")
        var since: String?
        @Option(help: "End of the range, exclusive (default: everything).")
        var until: String?
        @Option(help: "The directory to write into (created when missing).")
        var out: String
        @Option(help: "Kinds to export, separated by commas.")
        var kinds = "spans,logs,metric_points"
        @Flag(help: "Print the files written as JSON lines.")
        var json = false
        @OptionGroup var options: StoreOptions

        func run() async throws {
            let configuration = try options.load(command: "pyflare export parquet")
            guard FileManager.default.fileExists(atPath: configuration.dataDirectory + "/index.db") else {
                fail("\(configuration.dataDirectory) holds no PyFlare index (index.db)")
            }
            let range = try timeRange()
            let kinds = try kinds.split(separator: ",").map { name in
                guard let kind = SegmentKind.allCases.first(where: { $0.name == name.trimmingCharacters(in: .whitespaces) }) else {
                    fail("--kinds: no kind \(name) (spans, logs, metric_points)")
                }
                return kind
            }
            let pool = try SpanStore.openIndex(dataDirectory: configuration.dataDirectory)
            let segments = try await ParquetExport.activeSegments(of: kinds, overlapping: range, in: pool)
            let readers = try SegmentReaderCache.offline(dataDirectory: configuration.dataDirectory, remote: configuration.remoteSegmentsInEffect,
                                                         logger: Logger(label: "pyflare.export"))
            let export = ParquetExport(dataDirectory: configuration.dataDirectory,
                                       pricing: PricingTable.builtIn(overrides: configuration.pricingOverrides), readers: readers)
            let started = ContinuousClock.now
            let report = try export.export(segments, range: range, to: out)
            let seconds = (ContinuousClock.now - started) / .seconds(1)
            for file in report.files {
                if json {
                    var line = JSONWriter()
                    line.raw("{")
                    line.member("path", file.path)
                    line.member("kind", file.kind.name)
                    line.member("rows", file.rows)
                    line.member("bytes", file.bytes)
                    line.member("segment", file.segment)
                    line.raw("}")
                    print(String(decoding: line.bytes, as: UTF8.self))
                } else {
                    print("\(file.path)\t\(file.rows) rows\t\(file.bytes) bytes")
                }
            }
            for failure in report.failures {
                FileHandle.standardError.write(Data("pyflare export parquet: skipped \(failure.segment): \(failure.error)\n".utf8))
            }
            FileHandle.standardError.write(Data(String(format: "%d rows from %d segments in %d files, %d bytes, %.2f s\n",
                                                       report.rows, report.segments, report.files.count, report.bytes, seconds).utf8))
            if !report.failures.isEmpty { throw ExitCode(1) }
        }

        private func timeRange() throws -> Range<Int64>? {
            func parse(_ text: String?, _ option: String) -> Int64? {
                guard let text else { return nil }
                guard let time = RFC3339.nanoseconds(text) else {
                    fail("\(option) must be RFC 3339 (2026-12-01T00:00:00Z) or unix nanoseconds, not \"\(text)\"")
                }
                return Int64(clamping: time)
            }
            let since = parse(since, "--since"), until = parse(until, "--until")
            guard since != nil || until != nil else { return nil }
            let range = (since ?? .min)..<(until ?? .max)
            if let since, let until, since >= until { fail("--since must be before --until") }
            return range
        }

        private func fail(_ message: String) -> Never {
            FileHandle.standardError.write(Data("pyflare export parquet: \(message)\n".utf8))
            Foundation.exit(2)
        }
    }
}
