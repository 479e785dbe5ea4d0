import Foundation
public import GRDB
import PyFlareWire

/// A failure cluster as the API shows it, computed from `failure_cluster_members` over the
/// asked range and filters (so `size`, `services` and the series are those of the range).
public struct FailureCluster: Sendable {
    public var id: Int64
    public var name: String
    public var template: String
    public var size: Int
    public var firstSeen: Int64
    public var lastSeen: Int64
    public var traceCount: Int
    public var userCount: Int
    public var severity: Double
    public var representativeError: String = ""
    public var errorTypes: [(String, Int)] = []
    public var stackLine: String?
    public var commonKeywords: [String] = []
    public var services: [(String, Int)] = []
    public var models: [(String, Int)] = []
    public var memberIDs: [String] = []
    public var affectedTraces: [String] = []
    /// Distinct messages with their counts, most frequent first (detail only).
    public var examples: [(String, Int)] = []
    public var seriesStep: Int64 = UnixTime.hour
    public var series: [(Int64, Int)] = []
}

/// Reads failure clusters for `GET /api/v1/rca/clusters` and `/clusters/{id}`.
public struct FailureClusterQuery: Sendable {
    public var range: Range<Int64>
    public var service: String?
    public var model: String?
    public var limit: Int

    public init(range: Range<Int64>, service: String? = nil, model: String? = nil, limit: Int = 20) {
        self.range = range
        self.service = service
        self.model = model
        self.limit = limit
    }

    /// The clusters with failures in the range, most severe first, and how many there are.
    public func clusters(_ pool: DatabasePool, now: Int64) async throws -> (clusters: [FailureCluster], total: Int) {
        try await pool.read { db in
            var clusters = try Row.fetchAll(db, sql: """
                SELECT m.cluster_id, count(*), min(m.time_ns), max(m.time_ns), count(DISTINCT m.trace_id),
                       count(DISTINCT m.user_id), t.words
                FROM failure_cluster_members m JOIN failure_templates t ON t.id = m.cluster_id
                WHERE \(filter) GROUP BY m.cluster_id
                """, arguments: arguments).map { row in cluster(row, now: now) }
            let total = clusters.count
            clusters.sort { ($0.severity, $0.size, -$0.id) > ($1.severity, $1.size, -$1.id) }
            clusters = Array(clusters.prefix(limit))
            for index in clusters.indices { try describe(&clusters[index], samples: 10, db) }
            return (clusters, total)
        }
    }

    /// One cluster with more samples and its distinct messages; nil when it has no failure in the range.
    public func cluster(_ id: Int64, _ pool: DatabasePool, now: Int64) async throws -> FailureCluster? {
        try await pool.read { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT m.cluster_id, count(*), min(m.time_ns), max(m.time_ns), count(DISTINCT m.trace_id),
                       count(DISTINCT m.user_id), t.words
                FROM failure_cluster_members m JOIN failure_templates t ON t.id = m.cluster_id
                WHERE m.cluster_id = ? AND \(filter) GROUP BY m.cluster_id
                """, arguments: [id] + arguments) else { return nil }
            var cluster = cluster(row, now: now)
            try describe(&cluster, samples: 100, db)
            cluster.examples = try Row.fetchAll(db, sql: """
                SELECT message, count(*) FROM failure_cluster_members m WHERE m.cluster_id = ? AND \(filter)
                GROUP BY message ORDER BY 2 DESC, 1 LIMIT 20
                """, arguments: [id] + arguments).map { ($0[0], $0[1]) }
            return cluster
        }
    }

    /// The id a merged template's cluster lives on as.
    public static func currentID(of id: Int64, _ pool: DatabasePool) async throws -> Int64? {
        try await pool.read { db in
            var id = id
            for _ in 0..<64 {
                guard let row = try Row.fetchOne(db, sql: "SELECT merged_into FROM failure_templates WHERE id = ?", arguments: [id]) else { return nil }
                guard let next: Int64 = row[0] else { return id }
                id = next
            }
            return id
        }
    }

    private var filter: String {
        var clauses = ["m.time_ns >= ?", "m.time_ns < ?"]
        if service != nil { clauses.append("m.service = ?") }
        if model != nil { clauses.append("m.model = ?") }
        return clauses.joined(separator: " AND ")
    }

    private var arguments: StatementArguments {
        var values: [(any DatabaseValueConvertible)?] = [range.lowerBound, range.upperBound]
        if let service { values.append(service) }
        if let model { values.append(model) }
        return StatementArguments(values)
    }

    private func cluster(_ row: Row, now: Int64) -> FailureCluster {
        let words = FailureTemplateText.words(row[6])
        let size: Int = row[1], traces: Int = row[4], users: Int = row[5], lastSeen: Int64 = row[3]
        return FailureCluster(
            id: row[0], name: FailureTemplateText.name(words), template: FailureTemplateText.text(words), size: size,
            firstSeen: row[2], lastSeen: lastSeen, traceCount: traces, userCount: users,
            severity: Self.severity(size: size, reach: max(traces, users), age: now - lastSeen))
    }

    /// `0.4 · size + 0.3 · reach + 0.3 · recency`, each in 0…1: size `log10(1 + failures) / 3`
    /// (1 at 999 failures), reach `log10(1 + max(traces, users)) / 2` (1 at 99), recency
    /// `exp(-hours since the last failure / 24)`.
    static func severity(size: Int, reach: Int, age: Int64) -> Double {
        let sizeScore = min(1, log10(1 + Double(size)) / 3)
        let reachScore = min(1, log10(1 + Double(reach)) / 2)
        let recency = exp(-Double(max(0, age)) / Double(UnixTime.day))
        return ((0.4 * sizeScore + 0.3 * reachScore + 0.3 * recency) * 1000).rounded() / 1000
    }

    private func describe(_ cluster: inout FailureCluster, samples: Int, _ db: Database) throws {
        let id = cluster.id
        func counts(_ column: String) throws -> [(String, Int)] {
            try Row.fetchAll(db, sql: """
                SELECT \(column), count(*) FROM failure_cluster_members m
                WHERE m.cluster_id = ? AND \(filter) AND \(column) IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 20
                """, arguments: [id] + arguments).map { ($0[0], $0[1]) }
        }
        cluster.services = try counts("m.service")
        cluster.models = try counts("m.model")
        cluster.errorTypes = try counts("m.error_type")
        if let row = try Row.fetchOne(db, sql: """
            SELECT message, error_type, stack_line, count(*) FROM failure_cluster_members m WHERE m.cluster_id = ? AND \(filter)
            GROUP BY message, error_type ORDER BY 4 DESC, max(m.time_ns) DESC LIMIT 1
            """, arguments: [id] + arguments) {
            let message: String = row[0], type: String? = row[1]
            cluster.representativeError = type.map { "\($0): \(message)" } ?? message
            cluster.stackLine = row[2]
        }
        cluster.memberIDs = try String.fetchAll(db, sql: """
            SELECT span_id FROM failure_cluster_members m WHERE m.cluster_id = ? AND \(filter) AND span_id IS NOT NULL
            ORDER BY m.time_ns DESC LIMIT \(samples)
            """, arguments: [id] + arguments)
        cluster.affectedTraces = try String.fetchAll(db, sql: """
            SELECT trace_id FROM failure_cluster_members m WHERE m.cluster_id = ? AND \(filter) AND trace_id IS NOT NULL
            GROUP BY trace_id ORDER BY max(m.time_ns) DESC LIMIT \(samples)
            """, arguments: [id] + arguments)
        cluster.commonKeywords = FailureTemplateText.keywords(cluster.template, messages: try String.fetchAll(db, sql: """
            SELECT message FROM failure_cluster_members m WHERE m.cluster_id = ? AND \(filter) ORDER BY m.time_ns DESC LIMIT 50
            """, arguments: [id] + arguments))
        let step = Self.seriesStep(range)
        cluster.seriesStep = step
        cluster.series = try Row.fetchAll(db, sql: """
            SELECT (m.time_ns / ?) * ?, count(*) FROM failure_cluster_members m WHERE m.cluster_id = ? AND \(filter) GROUP BY 1 ORDER BY 1
            """, arguments: [step, step, id] + arguments).map { ($0[0], $0[1]) }
    }

    /// About 60 points at most over the range, on a round step.
    static func seriesStep(_ range: Range<Int64>) -> Int64 {
        let steps: [Int64] = [UnixTime.minute, 5 * UnixTime.minute, 15 * UnixTime.minute, UnixTime.hour,
                              6 * UnixTime.hour, UnixTime.day, 7 * UnixTime.day]
        let span = range.upperBound - range.lowerBound
        return steps.first { span / $0 <= 60 } ?? steps.last!
    }
}

/// Templates as stored (`failure_templates.words`) and as shown.
enum FailureTemplateText {
    static func stored(_ words: [String?]) -> String {
        words.map { $0 ?? "" }.joined(separator: "\u{1F}")
    }

    static func words(_ stored: String) -> [String?] {
        stored.split(separator: "\u{1F}", omittingEmptySubsequences: false).map { $0.isEmpty ? nil : String($0) }
    }

    static func text(_ words: [String?]) -> String {
        words.map { $0 ?? MessageTemplateMiner.wildcardText }.joined(separator: " ")
    }

    /// The template cut to its first 12 words (a run of variables shown once).
    static func name(_ words: [String?]) -> String {
        var shown: [String] = []
        for word in words.prefix(12) {
            let text = word ?? MessageTemplateMiner.wildcardText
            if text == MessageTemplateMiner.wildcardText && shown.last == text { continue }
            shown.append(text)
        }
        return shown.joined(separator: " ") + (words.count > 12 ? " …" : "")
    }

    static let stopWords: Set<String> = [
        "the", "a", "an", "and", "or", "of", "to", "in", "on", "for", "at", "by", "with", "from", "is", "was", "be", "been",
        "are", "not", "no", "this", "that", "it", "as", "error", "exception", "failed", "while", "when", "after",
    ]

    /// The fixed words of the template that say something (no stop words, numbers or
    /// punctuation), then the most frequent such words of recent messages, up to 8.
    static func keywords(_ template: String, messages: [String]) -> [String] {
        func words(_ text: String) -> [String] {
            text.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") })
                .map(String.init)
                .filter { $0.count > 2 && !stopWords.contains($0) && !$0.contains(where: \.isNumber) }
        }
        var keywords: [String] = []
        for word in words(template.replacingOccurrences(of: MessageTemplateMiner.wildcardText, with: " ")) where !keywords.contains(word) {
            keywords.append(word)
        }
        var frequency: [String: Int] = [:]
        for message in messages { for word in Set(words(message)) { frequency[word, default: 0] += 1 } }
        for (word, _) in frequency.sorted(by: { ($0.value, $1.key) > ($1.value, $0.key) }) where !keywords.contains(word) {
            keywords.append(word)
        }
        return Array(keywords.prefix(8))
    }
}
