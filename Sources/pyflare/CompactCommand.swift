import ArgumentParser
import Foundation
import PyFlareAPI
import PyFlareAnalytics
import PyFlareStore
import PyFlareSQL
import PyFlareWire

/// `pyflare compact [--dry-run]`: the retention job now, against a data directory whether
/// the server runs or not (it takes the job's lease, so it never overlaps the server's run).
struct Compact: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the retention policy and compact segments now.",
        discussion: """
            Deletes expired segments (and the oldest past retention.max_bytes), rewrites segments \
            straddling the cut-off without their expired rows, merges small segments, prunes \
            rollups and other outputs past their age and vacuums the index. Prints what was \
            (or with --dry-run, would be) merged, rewritten and deleted, and the bytes reclaimed.
            """)

    @Flag(help: "Plan only: report what would be done and change nothing.")
    var dryRun = false
    @Flag(help: "Print the report as JSON (as POST /api/v1/retention/compact answers).")
    var json = false
    @OptionGroup var options: StoreOptions

    func run() async throws {
        let scheduler = try await Jobs.open(try options.load(command: "pyflare compact"))
        guard case .swift(let job as RetentionJob) = scheduler.catalog[RetentionJob.jobName]?.work else {
            throw ExitCode(2)
        }
        try await scheduler.prepare()
        guard let report = try await job.compact(trigger: .command, dryRun: dryRun, leasedFrom: scheduler) else {
            FileHandle.standardError.write(Data("pyflare compact: a compaction is running already (in the server?); try again later\n".utf8))
            throw ExitCode(1)
        }
        if json {
            FileHandle.standardOutput.write(Data(report.json + [UInt8(ascii: "\n")]))
            return
        }
        FileHandle.standardOutput.write(Data(Self.text(report).utf8))
    }

    static func text(_ report: CompactionReport) -> String {
        var rows = [["operation", "reason", "kind", "segments", "rows in", "rows out", "expired", "bytes in", "bytes out", "note"]]
        for action in report.actions {
            rows.append([
                action.operation.rawValue, action.reason, action.kind.name, String(action.inputs.count), String(action.rowsIn),
                action.rowsOut.map(String.init) ?? "", String(action.rowsExpired), String(action.bytesIn),
                action.bytesOut.map(String.init) ?? "", action.skipped ?? "",
            ])
        }
        var text = report.actions.isEmpty ? "nothing to merge, rewrite or delete\n"
            : SQLResult(columns: rows[0], rows: rows.dropFirst().map { $0.map(SQLValue.text) },
                        elapsedSeconds: 0, truncated: false, scan: SQLScanStatistics()).table
        let verb = report.dryRun ? "would be" : "were"
        text += "\(report.segmentsMerged) segments \(verb) merged, \(report.count(.rewrite)) rewritten, \(report.segmentsDeleted) deleted; "
        text += "\(report.rowsExpired) rows expired\n"
        for (table, rows) in report.outputRowsDeleted.sorted(by: { $0.key < $1.key }) {
            text += "\(table): \(rows) rows past their age \(verb) deleted\n"
        }
        if !report.dryRun {
            text += "bytes reclaimed: \(report.segmentBytesReclaimed) of segment files, \(report.indexBytesReclaimed) of the index"
            if report.pendingDeletionBytes > 0 { text += "; \(report.pendingDeletionBytes) more once the replaced files' grace period ends" }
            text += "\n"
        }
        if let stopped = report.stoppedEarly { text += "stopped early: \(stopped)\n" }
        return text
    }
}
