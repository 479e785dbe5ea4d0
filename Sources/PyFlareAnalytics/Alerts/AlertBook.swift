import Foundation
public import GRDB
import PyFlareWire

/// Alert rules, their events and deliveries in `index.db` (`alert_rules`, `alert_events`,
/// `alert_deliveries`): the one place that reads and writes them.
public struct AlertBook: Sendable {
    public let pool: DatabasePool

    public init(pool: DatabasePool) {
        self.pool = pool
    }

    // MARK: - Rules

    public func create(_ rule: AlertRule) async throws -> AlertRule {
        try await pool.write { db in try Self.insert(rule, db) }
    }

    /// Replaces a rule's definition (its events stay); false when there is none.
    public func update(_ rule: AlertRule) async throws -> Bool {
        try await pool.write { db in try Self.replace(rule, db) }
    }

    private static func insert(_ rule: AlertRule, _ db: Database) throws -> AlertRule {
        try db.execute(sql: """
            INSERT INTO alert_rules (name, kind, metric, window_ns, operator, threshold, min_requests, filter, pattern_types,
                                     min_severity, channels, enabled, silenced_until_ns, created_ns, updated_ns)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: Self.arguments(rule) + [rule.created, rule.updated])
        var created = rule
        created.id = db.lastInsertedRowID
        return created
    }

    private static func replace(_ rule: AlertRule, _ db: Database) throws -> Bool {
        try db.execute(sql: """
            UPDATE alert_rules SET name = ?, kind = ?, metric = ?, window_ns = ?, operator = ?, threshold = ?, min_requests = ?,
                filter = ?, pattern_types = ?, min_severity = ?, channels = ?, enabled = ?, silenced_until_ns = ?, updated_ns = ?
            WHERE id = ?
            """, arguments: Self.arguments(rule) + [rule.updated, rule.id])
        return db.changesCount == 1
    }

    /// Deletes a rule with its events and deliveries; false when there was none.
    public func delete(_ id: Int64) async throws -> Bool {
        try await pool.write { db in try Self.delete(id, db) }
    }

    private static func delete(_ id: Int64, _ db: Database) throws -> Bool {
        try db.execute(sql: "DELETE FROM alert_deliveries WHERE event_id IN (SELECT id FROM alert_events WHERE rule_id = ?)", arguments: [id])
        try db.execute(sql: "DELETE FROM alert_events WHERE rule_id = ?", arguments: [id])
        try db.execute(sql: "DELETE FROM alert_rules WHERE id = ?", arguments: [id])
        return db.changesCount == 1
    }

    /// Brings the rule a configuration option stands for (found by `rule.name`) in line with
    /// it: created when missing; its condition and channels replaced when present (its id,
    /// events, silence and enabled flag stay, so an operator's silence outlives a restart);
    /// with `rule` nil, the rule named `name` is removed with its events.
    public func configure(_ rule: AlertRule?, named name: String) async throws {
        try await pool.write { db in
            let existing = try Row.fetchOne(db, sql: "SELECT * FROM alert_rules WHERE name = ? ORDER BY id LIMIT 1", arguments: [name])
                .map(Self.rule)
            switch (rule, existing) {
            case (nil, nil): return
            case (nil, let existing?): _ = try Self.delete(existing.id, db)
            case (var rule?, let existing?):
                rule.id = existing.id
                rule.enabled = existing.enabled
                rule.silencedUntil = existing.silencedUntil
                rule.created = existing.created
                let updated = rule.updated
                rule.updated = existing.updated
                guard rule != existing else { return }
                rule.updated = updated
                _ = try Self.replace(rule, db)
            case (let rule?, nil): _ = try Self.insert(rule, db)
            }
        }
    }

    /// Holds a rule's notifications back until `until` (nil lifts the silence); false when there is no rule.
    public func silence(_ id: Int64, until: Int64?, now: Int64) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "UPDATE alert_rules SET silenced_until_ns = ?, updated_ns = ? WHERE id = ?", arguments: [until, now, id])
            return db.changesCount == 1
        }
    }

    public func rules() async throws -> [AlertRule] {
        try await pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM alert_rules ORDER BY id").map(Self.rule) }
    }

    public func rule(_ id: Int64) async throws -> AlertRule? {
        try await pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM alert_rules WHERE id = ?", arguments: [id]).map(Self.rule) }
    }

    private static func arguments(_ rule: AlertRule) -> StatementArguments {
        var filter = JSONWriter()
        filter.stringObject(rule.filter)
        var types = JSONWriter()
        types.strings(rule.patternTypes)
        var channels = JSONWriter()
        channels.raw("[")
        for channel in rule.channels {
            if channels.bytes.count > 1 { channels.raw(",") }
            channels.raw("{")
            channels.member("type", channel.kind.rawValue)
            channels.member("url", channel.url)
            channels.raw("}")
        }
        channels.raw("]")
        let text = { (json: JSONWriter) in String(decoding: json.bytes, as: UTF8.self) }
        return [rule.name, rule.kind.rawValue, rule.metric?.rawValue, rule.windowNanoseconds, rule.comparison?.rawValue,
                rule.threshold, rule.minRequests, text(filter), text(types), rule.minSeverity, text(channels),
                rule.enabled, rule.silencedUntil]
    }

    private static func rule(_ row: Row) -> AlertRule {
        func json(_ column: String) -> JSONValue { (try? JSONValue.parse(Array((row[column] as String).utf8))) ?? .null }
        var filter: [(String, String)] = []
        if case .object(let members) = json("filter") {
            filter = members.compactMap { member in member.value.text.map { (member.key, $0) } }
        }
        var types: [String] = []
        if case .array(let items) = json("pattern_types") { types = items.compactMap(\.text) }
        var channels: [AlertRule.Channel] = []
        if case .array(let items) = json("channels") {
            channels = items.compactMap { item in
                guard let kind = item["type"]?.text.flatMap(AlertRule.Channel.Kind.init(rawValue:)), let url = item["url"]?.text else { return nil }
                return AlertRule.Channel(kind: kind, url: url)
            }
        }
        return AlertRule(id: row["id"], name: row["name"], kind: AlertRule.Kind(rawValue: row["kind"]) ?? .metric,
                         metric: (row["metric"] as String?).flatMap(AlertRule.Metric.init(rawValue:)), windowNanoseconds: row["window_ns"],
                         comparison: (row["operator"] as String?).flatMap(AlertRule.Comparison.init(rawValue:)),
                         threshold: row["threshold"], minRequests: row["min_requests"], filter: filter, patternTypes: types,
                         minSeverity: row["min_severity"], channels: channels, enabled: row["enabled"],
                         silencedUntil: row["silenced_until_ns"], created: row["created_ns"], updated: row["updated_ns"])
    }

    // MARK: - Events

    /// Events newest first, with their deliveries; of one rule, or only open ones, when asked.
    public func events(rule: Int64? = nil, openOnly: Bool = false, limit: Int = 100) async throws -> [AlertEvent] {
        try await pool.read { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let rule {
                conditions.append("rule_id = ?")
                arguments += [rule]
            }
            if openOnly { conditions.append("resolved_ns IS NULL") }
            let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            arguments += [limit]
            var events = try Row.fetchAll(db, sql: "SELECT * FROM alert_events \(whereClause) ORDER BY fired_ns DESC, id DESC LIMIT ?",
                                          arguments: arguments).map(Self.event)
            for index in events.indices {
                events[index].deliveries = try Row.fetchAll(db, sql: "SELECT * FROM alert_deliveries WHERE event_id = ? ORDER BY id",
                                                            arguments: [events[index].id]).map(Self.delivery)
            }
            return events
        }
    }

    /// Opens an event for `key` of `rule` unless one is open (then only its value moves), and
    /// queues a firing notification to each channel (marked silenced while the rule is).
    /// An open event of a pattern rule whose severity rose ``AlertRule/escalationStep`` past
    /// the last announced one takes the new summary and queues an `escalated` notification.
    /// Returns the event when it is new or escalated.
    func fire(_ rule: AlertRule, key: String, value: Double?, threshold: Double? = nil, summary: String, link: String,
              now: Int64) async throws -> (event: AlertEvent, escalated: Bool)? {
        try await pool.write { db in
            let silenced = rule.isSilenced(at: now)
            if let open = try Row.fetchOne(db, sql: """
                SELECT id, notified_value FROM alert_events WHERE rule_id = ? AND key = ? AND resolved_ns IS NULL
                """, arguments: [rule.id, key]) {
                let id: Int64 = open["id"]
                let notified: Double? = open["notified_value"]
                guard rule.kind == .pattern, let value, let notified, value >= notified + AlertRule.escalationStep - 1e-9 else {
                    try db.execute(sql: "UPDATE alert_events SET value = ? WHERE id = ?", arguments: [value, id])
                    return nil
                }
                try db.execute(sql: "UPDATE alert_events SET value = ?, notified_value = ?, summary = ?, link = ? WHERE id = ?",
                               arguments: [value, value, summary, link, id])
                try Self.queue(rule, event: id, state: "escalated", silenced: silenced, now: now, db)
                return try Row.fetchOne(db, sql: "SELECT * FROM alert_events WHERE id = ?", arguments: [id]).map { (Self.event($0), true) }
            }
            try db.execute(sql: """
                INSERT INTO alert_events (rule_id, key, fired_ns, value, notified_value, threshold, summary, link, silenced)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [rule.id, key, now, value, value, threshold ?? rule.threshold ?? rule.minSeverity, summary, link, silenced])
            let id = db.lastInsertedRowID
            try Self.queue(rule, event: id, state: "firing", silenced: silenced, now: now, db)
            return try Row.fetchOne(db, sql: "SELECT * FROM alert_events WHERE id = ?", arguments: [id]).map { (Self.event($0), false) }
        }
    }

    /// Closes the open events of `rule` whose keys are not in `firing`, and queues a resolution
    /// of each that was notified. Returns how many were resolved.
    func resolve(_ rule: AlertRule, except firing: Set<String>, now: Int64) async throws -> Int {
        try await pool.write { db in
            let open = try Row.fetchAll(db, sql: "SELECT id, key, silenced FROM alert_events WHERE rule_id = ? AND resolved_ns IS NULL",
                                        arguments: [rule.id])
            var resolved = 0
            for row in open where !firing.contains(row["key"] as String) {
                let id: Int64 = row["id"]
                try db.execute(sql: "UPDATE alert_events SET resolved_ns = ? WHERE id = ?", arguments: [now, id])
                // Nobody was told of a silenced firing, so nobody is told it ended.
                let wasSilenced: Bool = row["silenced"]
                if !wasSilenced { try Self.queue(rule, event: id, state: "resolved", silenced: rule.isSilenced(at: now), now: now, db) }
                resolved += 1
            }
            return resolved
        }
    }

    private static func queue(_ rule: AlertRule, event: Int64, state: String, silenced: Bool, now: Int64, _ db: Database) throws {
        for channel in rule.channels {
            try db.execute(sql: """
                INSERT INTO alert_deliveries (event_id, state, channel_type, target, status, next_attempt_ns) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [event, state, channel.kind.rawValue, channel.url, silenced ? "silenced" : "pending", silenced ? nil : now])
        }
    }

    // MARK: - Deliveries

    /// Pending deliveries due by `now`, with their event and rule names.
    func dueDeliveries(now: Int64) async throws -> [(delivery: AlertDelivery, event: AlertEvent, rule: String)] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT d.*, e.rule_id, e.key, e.fired_ns, e.resolved_ns, e.value, e.threshold, e.summary, e.link, e.silenced,
                       coalesce(r.name, '') AS rule_name
                FROM alert_deliveries d JOIN alert_events e ON e.id = d.event_id LEFT JOIN alert_rules r ON r.id = e.rule_id
                WHERE d.status = 'pending' AND d.next_attempt_ns <= ? ORDER BY d.id
                """, arguments: [now]).map { row in
                var event = Self.event(row)
                event.id = row["event_id"]
                return (Self.delivery(row), event, row["rule_name"])
            }
        }
    }

    /// The earliest pending delivery's next attempt, if any.
    func nextDeliveryTime() async throws -> Int64? {
        try await pool.read { db in try Int64.fetchOne(db, sql: "SELECT min(next_attempt_ns) FROM alert_deliveries WHERE status = 'pending'") }
    }

    func recordDelivered(_ id: Int64, attempts: Int, now: Int64) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE alert_deliveries SET status = 'delivered', attempts = ?, delivered_ns = ?, last_error = NULL WHERE id = ?",
                           arguments: [attempts, now, id])
        }
    }

    /// A failed attempt: tried again at `retryAt`, or failed for good when that is nil.
    func recordFailure(_ id: Int64, attempts: Int, error: String, retryAt: Int64?) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE alert_deliveries SET status = ?, attempts = ?, last_error = ?, next_attempt_ns = ? WHERE id = ?",
                           arguments: [retryAt == nil ? "failed" : "pending", attempts, error, retryAt, id])
        }
    }

    private static func event(_ row: Row) -> AlertEvent {
        AlertEvent(id: row["id"], ruleID: row["rule_id"], key: row["key"], fired: row["fired_ns"], resolved: row["resolved_ns"],
                   value: row["value"], threshold: row["threshold"], summary: row["summary"], link: row["link"], silenced: row["silenced"])
    }

    private static func delivery(_ row: Row) -> AlertDelivery {
        AlertDelivery(id: row["id"], eventID: row["event_id"], state: row["state"],
                      channel: AlertRule.Channel.Kind(rawValue: row["channel_type"]) ?? .webhook, target: row["target"],
                      status: AlertDelivery.Status(rawValue: row["status"]) ?? .pending, attempts: row["attempts"],
                      nextAttempt: row["next_attempt_ns"], lastError: row["last_error"], delivered: row["delivered_ns"])
    }
}
