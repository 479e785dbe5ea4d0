public import GRDB
import PyFlareWire

/// What the sessions and users API reads, in `sessions_1h` and `users_1h` (tables of this
/// module, kept by the jobs of the same names): each session's and user's hours summed over a
/// time range. The API holds this, never the database.
public struct SessionReadModel: Sendable {
    let pool: DatabasePool
    static let jobs = ["sessions_1h", "users_1h"]

    public init(pool: DatabasePool) {
        self.pool = pool
    }

    /// The figures a session or a user sums over its hours in a range.
    public struct Totals: Sendable, Equatable {
        /// Root spans: a session's turns, a user's requests.
        public var turns: Int64
        public var spans: Int64
        public var llmCalls: Int64
        public var errors: Int64
        public var inputTokens: Int64
        public var outputTokens: Int64
        public var costMicros: Int64
        public var unpricedCalls: Int64
        public var firstSeen: Int64
        public var lastSeen: Int64
    }

    public struct Session: Sendable, Equatable {
        public var id: String
        /// The user its spans name; nil when none does.
        public var user: String?
        public var totals: Totals
    }

    public struct User: Sendable, Equatable {
        public var id: String
        /// Distinct sessions with spans of this user in the range.
        public var sessions: Int64
        public var totals: Totals
    }

    /// Where a page of a list ended: the last row's last-seen time and id (lists run from the
    /// most recently seen back).
    public struct Cursor: Sendable, Equatable {
        public var lastSeen: Int64
        public var id: String

        public init(lastSeen: Int64, id: String) {
            self.lastSeen = lastSeen
            self.id = id
        }
    }

    /// Sessions with spans in `range` (of `user` when given), most recently seen first, from
    /// after `cursor`; and when the jobs last finished.
    public func sessions(in range: Range<Int64>, user: String? = nil, after cursor: Cursor? = nil, limit: Int) async throws
        -> (sessions: [Session], materializedAt: Int64?) {
        var clause = WhereClause("bucket_ns >= ? AND bucket_ns < ?", Self.bucketStart(range.lowerBound), range.upperBound)
        clause.equal([("user_id", user)])
        let (having, havingArguments) = Self.having(cursor, id: "session_id")
        let statement = """
            SELECT session_id AS id, max(user_id) AS user_id, \(Self.totals(of: "turns"))
            FROM sessions_1h WHERE \(clause.sql) GROUP BY session_id \(having)
            ORDER BY last_ns DESC, session_id DESC LIMIT ?
            """
        let arguments = clause.arguments + havingArguments + [limit]
        return try await pool.read { db in
            let rows = try Row.fetchAll(db, sql: statement, arguments: arguments)
            let sessions = rows.map { row in
                Session(id: row["id"], user: (row["user_id"] as String?).flatMap { $0.isEmpty ? nil : $0 }, totals: Self.totals(row))
            }
            return (sessions, try JobLedger.materializedAt(by: Self.jobs, db))
        }
    }

    /// One session over all it holds; nil when no job has seen it.
    public func session(_ id: String) async throws -> Session? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: """
                SELECT max(user_id) AS user_id, \(Self.totals(of: "turns")) FROM sessions_1h WHERE session_id = ? HAVING count(*) > 0
                """, arguments: [id]).map { row in
                Session(id: id, user: (row["user_id"] as String?).flatMap { $0.isEmpty ? nil : $0 }, totals: Self.totals(row))
            }
        }
    }

    /// Users with spans in `range`, most recently seen first, from after `cursor`; and when the
    /// jobs last finished.
    public func users(in range: Range<Int64>, after cursor: Cursor? = nil, limit: Int) async throws
        -> (users: [User], materializedAt: Int64?) {
        let clause = WhereClause("bucket_ns >= ? AND bucket_ns < ?", Self.bucketStart(range.lowerBound), range.upperBound)
        let (having, havingArguments) = Self.having(cursor, id: "user_id")
        let statement = """
            SELECT user_id AS id, \(Self.totals(of: "requests")) FROM users_1h
            WHERE \(clause.sql) GROUP BY user_id \(having) ORDER BY last_ns DESC, user_id DESC LIMIT ?
            """
        let arguments = clause.arguments + havingArguments + [limit]
        return try await pool.read { db in
            let rows = try Row.fetchAll(db, sql: statement, arguments: arguments)
            var users = rows.map { row in User(id: row["id"], sessions: 0, totals: Self.totals(row)) }
            try Self.countSessions(of: &users, clause: clause, db)
            return (users, try JobLedger.materializedAt(by: Self.jobs, db))
        }
    }

    /// One user over all they did; nil when no job has seen them.
    public func user(_ id: String) async throws -> User? {
        try await pool.read { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT \(Self.totals(of: "requests")) FROM users_1h WHERE user_id = ? HAVING count(*) > 0
                """, arguments: [id]) else { return nil }
            var users = [User(id: id, sessions: 0, totals: Self.totals(row))]
            try Self.countSessions(of: &users, clause: WhereClause("1"), db)
            return users[0]
        }
    }

    // MARK: - Statements

    /// The sums of a session's or user's hours, named as ``totals(_:)`` reads them; `roots`
    /// is the table's column of root spans.
    private static func totals(of roots: String) -> String {
        """
        sum(\(roots)) AS turns, sum(spans) AS spans, sum(llm_calls) AS llm_calls, sum(errors) AS errors,
        sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, sum(cost_micros) AS cost_micros,
        sum(unpriced_calls) AS unpriced_calls, min(first_ns) AS first_ns, max(last_ns) AS last_ns
        """
    }

    private static func totals(_ row: Row) -> Totals {
        Totals(turns: row["turns"] ?? 0, spans: row["spans"] ?? 0, llmCalls: row["llm_calls"] ?? 0,
               errors: row["errors"] ?? 0, inputTokens: row["input_tokens"] ?? 0, outputTokens: row["output_tokens"] ?? 0,
               costMicros: row["cost_micros"] ?? 0, unpricedCalls: row["unpriced_calls"] ?? 0,
               firstSeen: row["first_ns"] ?? 0, lastSeen: row["last_ns"] ?? 0)
    }

    /// Rows past the cursor of a list ordered by `last_ns DESC, id DESC`.
    private static func having(_ cursor: Cursor?, id: String) -> (String, StatementArguments) {
        guard let cursor else { return ("", []) }
        return ("HAVING max(last_ns) < ? OR (max(last_ns) = ? AND \(id) < ?)", [cursor.lastSeen, cursor.lastSeen, cursor.id])
    }

    /// The hour a range's start falls in: an hour partly in the range counts whole, as the
    /// rows hold no finer time.
    private static func bucketStart(_ time: Int64) -> Int64 {
        TimeBucket.floor(time, UnixTime.hour)
    }

    private static func countSessions(of users: inout [User], clause: WhereClause, _ db: Database) throws {
        guard !users.isEmpty else { return }
        let ids = users.map(\.id)
        let statement = """
            SELECT user_id, count(DISTINCT session_id) AS sessions FROM sessions_1h
            WHERE \(clause.sql) AND user_id IN (\(ids.map { _ in "?" }.joined(separator: ", "))) GROUP BY user_id
            """
        var counts: [String: Int64] = [:]
        for row in try Row.fetchAll(db, sql: statement, arguments: clause.arguments + StatementArguments(ids)) {
            counts[row["user_id"]] = row["sessions"]
        }
        for index in users.indices { users[index].sessions = counts[users[index].id] ?? 0 }
    }
}
