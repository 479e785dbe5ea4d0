public import Hummingbird
public import PyFlareAnalytics
public import PyFlareStore
import PyFlareWire

/// `GET /api/v1/sessions`, `/sessions/{id}`, `/users` and `/users/{id}`: sessions and users
/// from the hourly tables of the `sessions_1h` and `users_1h` jobs, and the traces of a
/// session's turns (oldest first) from the store, sealed or not.
public struct SessionRoutes: Sendable {
    let sessions: SessionReadModel
    let store: SpanStore
    /// The turns a session answer lists at most.
    static let maxTurns = 1_000

    public init(sessions: SessionReadModel, store: SpanStore) {
        self.sessions = sessions
        self.store = store
    }

    public func routes<Context: RequestContext>(context: Context.Type = Context.self) -> APIRouteCollection<Context> {
        let routes = APIRouteCollection(context: Context.self)
        routes.api("/api/v1/sessions") { request, _ in try await listSessions(QueryParameters(request)) }
        routes.api("/api/v1/sessions/:session_id") { _, context in try await session(try context.parameters.path("session_id")) }
        routes.api("/api/v1/users") { request, _ in try await listUsers(QueryParameters(request)) }
        routes.api("/api/v1/users/:user_id") { request, context in try await user(try context.parameters.path("user_id"), QueryParameters(request)) }
        return routes
    }

    /// `?since&until` (default: the last 7 days), `user`, `limit` (100, at most 1,000), `cursor`.
    func listSessions(_ parameters: QueryParameters) async throws -> Response {
        let range = try parameters.range(defaultSpan: 7 * UnixTime.day)
        let limit = try parameters.limit(default: 100, maximum: 1_000)
        let (found, materializedAt) = try await sessions.sessions(in: range, user: parameters.text("user"),
                                                                  after: try Self.cursor(parameters), limit: limit + 1)
        return Self.page("sessions", found, limit: limit, materializedAt: materializedAt, range: range,
                         cursor: { ($0.totals.lastSeen, $0.id) }, write: Self.write)
    }

    /// The session's figures and its turns' traces, oldest first, with their summaries (the
    /// newest ``maxTurns`` of them).
    func session(_ id: String) async throws -> Response {
        var query = TraceQuery()
        query.session = id
        query.limit = Self.maxTurns + 1
        let traces = try await store.liveTraces(query)
        let summary = try await sessions.session(id)
        guard summary != nil || !traces.isEmpty else { throw APIError.notFound("no session \"\(id)\" is stored") }
        var json = JSONWriter(capacity: 256 * traces.count + 512)
        if let summary {
            Self.write(summary, into: &json)
        } else {
            // Its spans are stored but the job has not run over them yet: the traces say what there is.
            json.raw("{")
            json.member("session_id", id)
            json.member("user", traces.compactMap(\.user).first)
        }
        json.raw(#","traces":["#)
        json.elements(of: traces.prefix(Self.maxTurns).reversed()) { trace, json in
            TraceRoutes.summary(trace, into: &json)
        }
        json.raw(#"],"traces_truncated":"#)
        json.bool(traces.count > Self.maxTurns)
        json.byte(UInt8(ascii: "}"))
        return .json(json)
    }

    /// `?since&until` (default: the last 7 days), `limit` (100, at most 1,000), `cursor`.
    func listUsers(_ parameters: QueryParameters) async throws -> Response {
        let range = try parameters.range(defaultSpan: 7 * UnixTime.day)
        let limit = try parameters.limit(default: 100, maximum: 1_000)
        let (found, materializedAt) = try await sessions.users(in: range, after: try Self.cursor(parameters), limit: limit + 1)
        return Self.page("users", found, limit: limit, materializedAt: materializedAt, range: range,
                         cursor: { ($0.totals.lastSeen, $0.id) }, write: Self.write)
    }

    /// The user's figures over all they did, and as `recent_sessions` their sessions in
    /// `?since&until` (default: the last 30 days), most recently seen first (`limit`, 100).
    func user(_ id: String, _ parameters: QueryParameters) async throws -> Response {
        guard let user = try await sessions.user(id) else { throw APIError.notFound("no user \"\(id)\" is stored") }
        let range = try parameters.range(defaultSpan: 30 * UnixTime.day)
        let limit = try parameters.limit(default: 100, maximum: 1_000)
        let (found, _) = try await sessions.sessions(in: range, user: id, limit: limit + 1)
        var json = JSONWriter()
        Self.write(user, into: &json)
        // Not "sessions": that is the count of the user's shape.
        Self.rows("recent_sessions", found.prefix(limit), into: &json, write: Self.write)
        json.member("recent_sessions_truncated", found.count > limit)
        json.byte(UInt8(ascii: "}"))
        return .json(json)
    }

    // MARK: - Shapes

    /// A list answer: the range and `materialized_at`, the first `limit` of `found` under `key`
    /// (one more was asked for, to know whether there are more), and `next_cursor`.
    static func page<Row>(_ key: StaticString, _ found: [Row], limit: Int, materializedAt: Int64?, range: Range<Int64>,
                          cursor: (Row) -> (Int64, String), write: (Row, inout JSONWriter) -> Void) -> Response {
        var json = JSONWriter()
        json.openMaterializedAnswer(at: materializedAt, range: range)
        rows(key, found.prefix(limit), into: &json, write: write)
        json.key("next_cursor")
        if found.count > limit, let last = found.prefix(limit).last {
            let (lastSeen, id) = cursor(last)
            json.string(CursorToken.encode(["\(lastSeen)", id]))
        } else {
            json.null()
        }
        json.byte(UInt8(ascii: "}"))
        return .json(json)
    }

    /// `,"KEY":[…]`: each row written (left open) and closed.
    static func rows<Row>(_ key: StaticString, _ rows: some Sequence<Row>, into json: inout JSONWriter, write: (Row, inout JSONWriter) -> Void) {
        json.key(key)
        json.byte(UInt8(ascii: "["))
        json.elements(of: rows) { row, json in
            write(row, &json)
            json.byte(UInt8(ascii: "}"))
        }
        json.byte(UInt8(ascii: "]"))
    }

    /// `{"session_id","user","turns",…` (left open).
    static func write(_ session: SessionReadModel.Session, into json: inout JSONWriter) {
        json.raw("{")
        json.member("session_id", session.id)
        json.member("user", session.user)
        json.member("turns", session.totals.turns)
        write(session.totals, into: &json)
    }

    /// `{"user","requests","sessions",…` (left open).
    static func write(_ user: SessionReadModel.User, into json: inout JSONWriter) {
        json.raw("{")
        json.member("user", user.id)
        json.member("requests", user.totals.turns)
        json.member("sessions", user.sessions)
        write(user.totals, into: &json)
    }

    private static func write(_ totals: SessionReadModel.Totals, into json: inout JSONWriter) {
        json.member("spans", totals.spans)
        json.member("llm_calls", totals.llmCalls)
        json.member("errors", totals.errors)
        json.member("input_tokens", totals.inputTokens)
        json.member("output_tokens", totals.outputTokens)
        json.member("cost_micros", totals.costMicros)
        json.member("unpriced_calls", totals.unpricedCalls)
        json.time(UInt64(max(0, totals.firstSeen)), key: "first_seen_unix_nano", textKey: "first_seen")
        json.time(UInt64(max(0, totals.lastSeen)), key: "last_seen_unix_nano", textKey: "last_seen")
    }

    static func cursor(_ parameters: QueryParameters) throws(APIError) -> SessionReadModel.Cursor? {
        guard let text = parameters.text("cursor") else { return nil }
        guard let parts = CursorToken.decode(text, count: 2), let lastSeen = Int64(parts[0]) else {
            throw .invalid("cursor", "is not one this API returned")
        }
        return SessionReadModel.Cursor(lastSeen: lastSeen, id: String(parts[1]))
    }
}
