import Foundation
import GRDB
import PyFlareWire
import PyFlareStore
import PyFlareSQL

/// Clusters failures by message template, incrementally: every run reads the error spans
/// (with their exception event) and the ERROR log records whose time may have changed since
/// the last run, assigns each to a template with a miner restored from `failure_templates`,
/// and replaces that time range of `failure_cluster_members`. A template's id is its
/// cluster's id, so a new failure of a known kind joins its cluster across runs and restarts,
/// and across upgrades: templates that an older miner stored are rebuilt by this one from
/// their clusters' messages once, each id kept (`restoredMiner`).
public struct FailureClusterJob: AnalyticsJob {
    public let name = "failure_clusters"
    public let schedule: JobSchedule
    public let outputTable: String? = "failure_cluster_members"
    let similarity: Double
    let crossLengthSimilarity: Double

    /// Windows of at most 20,000 failures: bounds what a run holds in memory however many
    /// spans of a burst failed (a day at a time, a run once held every failure of the day).
    static let windows = DensityWindows(counting: """
        SELECT start_time_ns AS t FROM spans WHERE status = 'error' AND start_time_ns >= :start AND start_time_ns < :end
        UNION ALL
        SELECT \(LogTime.sql) AS t FROM logs
        WHERE severity_number >= 17 AND t >= :start AND t < :end
        """, budget: 20_000)

    public init(schedule: JobSchedule = .every(seconds: 60), similarity: Double = 0.6, crossLengthSimilarity: Double = 0.8) {
        self.schedule = schedule
        self.similarity = similarity
        self.crossLengthSimilarity = crossLengthSimilarity
    }

    public func run(_ context: JobContext) async throws -> JobOutcome {
        let (pending, newPosition) = try await JobInput.pendingRecords([.spans, .logs], job: name, context)
        guard let pending else { return JobOutcome(rows: 0, position: newPosition) }
        let start = pending.lowerBound, end = pending.upperBound
        var miner = try await Self.restoredMiner(similarity: similarity, crossLengthSimilarity: crossLengthSimilarity,
                                                 context.pool, now: context.now)
        var rows = 0
        try await Self.windows.walk(start..<end, context) { window in
            let failures = try await Self.failures(in: window, context)
            let members = failures.map { failure in (failure, miner.add(failure.clusterText)) }
            try await context.pool.write { [miner] db in
                try Self.saveTemplates(miner, now: context.now, db)
                try Self.saveMinerVersion(db)
                try db.execute(sql: "DELETE FROM failure_cluster_members WHERE time_ns >= ? AND time_ns < ?",
                               arguments: [window.lowerBound, window.upperBound])
                let insert = try db.makeStatement(sql: """
                    INSERT INTO failure_cluster_members (time_ns, cluster_id, source, trace_id, span_id, service, model,
                        operation, user_id, error_type, message, stack_line) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
                for (failure, template) in members {
                    try insert.execute(arguments: [
                        failure.time, miner.current(template), failure.source, failure.traceID, failure.spanID, failure.service,
                        failure.model, failure.operation, failure.userID, failure.errorType, failure.message, failure.stackLine,
                    ])
                }
            }
            rows += members.count
        }
        return JobOutcome(rows: rows, window: start..<end, position: newPosition)
    }

    // MARK: - Templates

    /// Which miner's rules the stored templates follow (absent: the first miner's, version 1).
    static let minerVersionKey = "failure_template_miner_version"

    /// The miner of the stored templates. When an older miner stored them, a new one is built
    /// from them first and saved: each old cluster's most frequent failure goes to the new
    /// rules, so the cluster keeps its id, and old clusters whose failures the new rules put
    /// together merge into the oldest of them, their members moved. Without this an upgrade
    /// would either start every cluster over or keep the old rules' mistakes.
    static func restoredMiner(similarity: Double, crossLengthSimilarity: Double?, _ pool: DatabasePool,
                              now: Int64) async throws -> MessageTemplateMiner {
        let saved = try await savedTemplates(pool)
        let version = try await pool.read { db in
            try StoreCatalog.value(forKey: minerVersionKey, db).map(Int.init)
        } ?? 1
        guard !saved.isEmpty, version != MessageTemplateMiner.version else {
            return MessageTemplateMiner(similarity: similarity, crossLengthSimilarity: crossLengthSimilarity, restoring: saved)
        }
        let miner = MessageTemplateMiner.rebuilt(similarity: similarity, crossLengthSimilarity: crossLengthSimilarity,
                                                 from: saved, examples: try await examples(pool))
        try await pool.write { db in
            try saveTemplates(miner, now: now, db)
            try saveMinerVersion(db)
        }
        return miner
    }

    static func saveMinerVersion(_ db: Database) throws {
        try StoreCatalog.setValue(Int64(MessageTemplateMiner.version), forKey: minerVersionKey, db)
    }

    /// Each cluster's most frequent failure (the latest of equally frequent ones), as mined.
    static func examples(_ pool: DatabasePool) async throws -> [Int: String] {
        try await pool.read { db in
            var examples: [Int: String] = [:]
            let rows = try Row.fetchCursor(db, sql: """
                SELECT cluster_id, message, error_type FROM failure_cluster_members
                GROUP BY cluster_id, message, error_type ORDER BY cluster_id, count(*) DESC, max(time_ns) DESC
                """)
            while let row = try rows.next() {
                let id: Int = row[0]
                if examples[id] == nil { examples[id] = FailureText.clusterText(message: row[1], errorType: row[2]) }
            }
            return examples
        }
    }

    static func savedTemplates(_ pool: DatabasePool) async throws -> [MessageTemplateMiner.SavedTemplate] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT id, words, merged_into FROM failure_templates ORDER BY id").map { row in
                MessageTemplateMiner.SavedTemplate(id: row["id"], words: FailureTemplateText.words(row["words"]), mergedInto: row["merged_into"])
            }
        }
    }

    /// Writes the templates that are new or changed, and moves the members of templates merged
    /// since into the template they merged into.
    static func saveTemplates(_ miner: MessageTemplateMiner, now: Int64, _ db: Database) throws {
        let upsert = try db.makeStatement(sql: """
            INSERT INTO failure_templates (id, words, merged_into, created_ns) VALUES (?, ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET words = excluded.words, merged_into = excluded.merged_into
            WHERE words != excluded.words OR merged_into IS NOT excluded.merged_into
            """)
        for template in miner.exported() {
            try upsert.execute(arguments: [template.id, FailureTemplateText.stored(template.words), template.mergedInto.map(miner.current), now])
            if template.mergedInto != nil && db.changesCount > 0 {
                try db.execute(sql: "UPDATE failure_cluster_members SET cluster_id = ? WHERE cluster_id = ?",
                               arguments: [miner.current(template.id), template.id])
            }
        }
    }

    // MARK: - Reading failures

    /// One failure: what is clustered (`clusterText`) and what the API shows of it.
    struct Failure {
        var time: Int64
        var source: String
        var traceID: String?
        var spanID: String?
        var service: String
        var model: String?
        var operation: String?
        var userID: String?
        var errorType: String?
        var message: String
        var stackLine: String?

        /// The exception type and message: two failures of one kind share a template.
        var clusterText: String {
            FailureText.clusterText(message: message, errorType: errorType)
        }
    }

    static let spansStatement = """
        SELECT start_time_ns, trace_id, span_id, service, model, operation, user_id, name, status_message,
               attr(exception, 'exception.type'), attr(exception, 'exception.message'), attr(exception, 'exception.stacktrace')
        FROM (SELECT start_time_ns, trace_id, span_id, service, model, operation, user_id, name, status_message,
                     (SELECT json_extract(event.value, '$.attributes') FROM json_each(spans.events) AS event
                      WHERE json_extract(event.value, '$.name') = 'exception' LIMIT 1) AS exception
              FROM spans WHERE status = 'error' AND start_time_ns >= :start AND start_time_ns < :end)
        """

    /// ERROR (17) and above; a record without a time is placed at its observed time.
    static let logsStatement = """
        SELECT \(LogTime.sql) AS at, trace_id, span_id, service, body,
               attr(attributes, 'exception.type'), attr(attributes, 'exception.message'), attr(attributes, 'exception.stacktrace')
        FROM logs WHERE severity_number >= 17 AND at >= :start AND at < :end
        """

    static func failures(in window: Range<Int64>, _ context: JobContext) async throws -> [Failure] {
        let bounds: SQLParameters = .named(["start": .integer(window.lowerBound), "end": .integer(window.upperBound)])
        let spans = try await context.engine.run(spansStatement, parameters: bounds, limits: context.settings.jobLimits)
        var failures: [Failure] = []
        var failedSpans = Set<String>()
        for row in spans.rows {
            let type = row[9].string, exceptionMessage = row[10].string, status = row[8].string
            let message = exceptionMessage ?? (status?.isEmpty == false ? status! : "\(row[7].string ?? "span") failed")
            if let spanID = row[2].string { failedSpans.insert(spanID) }
            failures.append(Failure(
                time: row[0].integer ?? 0, source: "span", traceID: row[1].string, spanID: row[2].string,
                service: row[3].string ?? "", model: row[4].string, operation: row[5].string, userID: row[6].string,
                errorType: type, message: FailureText.clipped(message), stackLine: row[11].string.flatMap(FailureText.stackLine)))
        }
        let logs = try await context.engine.run(logsStatement, parameters: bounds, limits: context.settings.jobLimits)
        for row in logs.rows {
            // The log record of an exception its span recorded too is the same failure.
            if let spanID = row[2].string, failedSpans.contains(spanID) { continue }
            let body = row[4].string ?? ""
            failures.append(Failure(
                time: row[0].integer ?? 0, source: "log", traceID: row[1].string, spanID: row[2].string,
                service: row[3].string ?? "", model: nil, operation: nil, userID: nil, errorType: row[5].string,
                message: FailureText.clipped(row[6].string ?? body), stackLine: row[7].string.flatMap(FailureText.stackLine)))
        }
        return failures
    }
}

/// The text of failures: what is mined, what is kept.
enum FailureText {
    static let maxMessageBytes = 2_048

    static func clusterText(message: String, errorType: String?) -> String {
        masked(errorType.map { "\($0): \(message)" } ?? message)
    }

    static func clipped(_ message: String) -> String {
        guard message.utf8.count > maxMessageBytes else { return message }
        var end = message.utf8.index(message.utf8.startIndex, offsetBy: maxMessageBytes)
        while end > message.startIndex && !message.unicodeScalars.indices.contains(end) { end = message.utf8.index(before: end) }
        return String(message[..<end]) + "…"
    }

    /// Quoted values become empty quotes (a variable part for the miner), and only the first
    /// line counts: a message that goes on with a dump of its request is the same failure. A
    /// quote opens after a space or punctuation and closes before one, so an apostrophe inside
    /// a word ("can't") is no quote.
    static func masked(_ message: String) -> String {
        let line = Array(message.prefix { $0 != "\n" })
        var out = ""
        out.reserveCapacity(line.count)
        var index = 0
        while index < line.count {
            let character = line[index]
            let opens = (character == "'" || character == "\"" || character == "`")
                && (index == 0 || !(line[index - 1].isLetter || line[index - 1].isNumber))
            if opens, let close = line[(index + 1)...].indices.first(where: { end in
                line[end] == character && (end + 1 == line.count || !(line[end + 1].isLetter || line[end + 1].isNumber))
            }) {
                out.append(character)
                out.append(character)
                index = close + 1
            } else {
                out.append(character)
                index += 1
            }
        }
        return out
    }

    /// The frame that raised: the last `File "…"` line of a Python traceback, the first
    /// `at …` line of a JVM or JavaScript one, else the first non-empty line.
    static func stackLine(_ stack: String) -> String? {
        let lines = stack.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if let python = lines.last(where: { $0.hasPrefix("File \"") }) { return python }
        if let frame = lines.first(where: { $0.hasPrefix("at ") }) { return frame }
        return lines.first
    }
}
