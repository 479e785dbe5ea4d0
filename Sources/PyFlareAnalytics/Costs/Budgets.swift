import Foundation
import PyFlareWire
public import GRDB

/// A spending limit on the cost of LLM calls (spans with a model) over a calendar period.
public struct Budget: Sendable, Equatable {
    public enum Dimension: String, Sendable, CaseIterable {
        case global, user, model, feature, team, environment
    }

    public enum Period: String, Sendable, CaseIterable {
        case hourly, daily, weekly, monthly

        /// The period holding `time` (unix nanoseconds), in UTC; weeks start on Monday.
        public func bounds(containing time: Int64) -> Range<Int64> {
            let hour = UnixTime.hour, day = UnixTime.day
            switch self {
            case .hourly:
                let start = TimeBucket.floor(time, hour)
                return start..<start + hour
            case .daily:
                let start = TimeBucket.floor(time, day)
                return start..<start + day
            case .weekly:
                // 1970-01-01 was a Thursday: Mondays are 4 days after the epoch's weeks.
                let start = TimeBucket.floor(time - 4 * day, 7 * day) + 4 * day
                return start..<start + 7 * day
            case .monthly:
                let days = TimeBucket.floor(time, day) / day
                let date = CivilDate(daysSinceEpoch: days)
                let first = days - Int64(date.day - 1)
                return first * day..<(first + Int64(date.daysInMonth)) * day
            }
        }
    }

    /// `spent` as a percentage of `limit`, to two decimals, as the API and the webhook give it.
    public static func percent(spent: Int64, of limit: Int64) -> Double {
        (Double(spent) / Double(limit) * 10_000).rounded() / 100
    }

    public var id: Int64
    public var dimension: Dimension
    /// The user, model, feature, team or environment; nil for the global budget.
    public var value: String?
    public var period: Period
    public var limitMicros: Int64
    /// Fractions of the limit that raise an alert when spending reaches them, ascending.
    public var alertThresholds: [Double]
    public var createdAt: Int64

    public init(id: Int64 = 0, dimension: Dimension, value: String?, period: Period, limitMicros: Int64,
                alertThresholds: [Double], createdAt: Int64) {
        self.id = id
        self.dimension = dimension
        self.value = value
        self.period = period
        self.limitMicros = limitMicros
        self.alertThresholds = alertThresholds
        self.createdAt = createdAt
    }
}

/// A budget with its spending in the current period.
public struct BudgetStatus: Sendable {
    public enum State: String, Sendable {
        case ok, warning, exceeded
    }

    public var budget: Budget
    public var period: Range<Int64>
    public var spentMicros: Int64
    /// When the rollups the spending comes from were last computed.
    public var materializedAt: Int64?
    public var now: Int64

    public var remainingMicros: Int64 { max(0, budget.limitMicros - spentMicros) }
    public var fractionUsed: Double { Double(spentMicros) / Double(budget.limitMicros) }

    public var state: State {
        if spentMicros >= budget.limitMicros { return .exceeded }
        if budget.alertThresholds.contains(where: { $0 < 1 && fractionUsed >= $0 }) { return .warning }
        return .ok
    }

    /// Spending at the end of the period if it goes on at the rate of the period so far.
    public var forecastMicros: Int64 {
        let elapsed = max(min(now, period.upperBound) - period.lowerBound, UnixTime.minute)
        let length = period.upperBound - period.lowerBound
        return Int64((Double(spentMicros) * Double(length) / Double(elapsed)).rounded())
    }
}

/// A threshold a budget crossed.
public struct BudgetAlert: Sendable {
    public var id: Int64
    public var budgetID: Int64
    public var periodStart: Int64
    public var threshold: Double
    public var spentMicros: Int64
    public var limitMicros: Int64
    public var firedAt: Int64

    init(_ row: Row) {
        id = row["id"]
        budgetID = row["budget_id"]
        periodStart = row["period_start_ns"]
        threshold = row["threshold"]
        spentMicros = row["spent_micros"]
        limitMicros = row["limit_micros"]
        firedAt = row["fired_at_ns"]
    }
}

/// Budgets and their alerts in `index.db`; spending read from the materialized rollups.
public struct BudgetBook: Sendable {
    public let pool: DatabasePool

    public init(pool: DatabasePool) {
        self.pool = pool
    }

    public func create(_ budget: Budget) async throws -> Budget {
        try await pool.write { db in
            try db.execute(sql: """
                INSERT INTO budgets (dimension, value, period, limit_micros, alert_thresholds, created_at_ns) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [budget.dimension.rawValue, budget.value, budget.period.rawValue, budget.limitMicros,
                                 Self.encode(budget.alertThresholds), budget.createdAt])
            var created = budget
            created.id = db.lastInsertedRowID
            return created
        }
    }

    public func budgets() async throws -> [Budget] {
        try await pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM budgets ORDER BY id").map(Self.budget) }
    }

    public func budget(_ id: Int64) async throws -> Budget? {
        try await pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM budgets WHERE id = ?", arguments: [id]).map(Self.budget) }
    }

    /// Replaces a budget's dimension, period, limit and thresholds; false when there is none. Its
    /// alerts stay: a threshold reached in this period is not announced twice.
    public func update(_ budget: Budget) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: """
                UPDATE budgets SET dimension = ?, value = ?, period = ?, limit_micros = ?, alert_thresholds = ? WHERE id = ?
                """, arguments: [budget.dimension.rawValue, budget.value, budget.period.rawValue, budget.limitMicros,
                                 Self.encode(budget.alertThresholds), budget.id])
            return db.changesCount == 1
        }
    }

    /// Deletes a budget and its alerts; false when there was none.
    public func delete(_ id: Int64) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM budget_alerts WHERE budget_id = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM budgets WHERE id = ?", arguments: [id])
            return db.changesCount == 1
        }
    }

    public func alerts(of id: Int64) async throws -> [BudgetAlert] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM budget_alerts WHERE budget_id = ? ORDER BY id", arguments: [id]).map(BudgetAlert.init)
        }
    }

    /// The budgets with their spending in the period holding `now`.
    public func statuses(_ budgets: [Budget], now: Int64) async throws -> [BudgetStatus] {
        try await pool.read { db in
            let materializedAt = try JobLedger.materializedAt(by: ["cost_by_dimension_1h"], db)
            return try budgets.map { budget in
                let period = budget.period.bounds(containing: now)
                return BudgetStatus(budget: budget, period: period, spentMicros: try Self.spent(budget, in: period, db),
                                    materializedAt: materializedAt, now: now)
            }
        }
    }

    /// Cost of the LLM calls a budget covers within `period`, from the hourly cost by
    /// dimension (the current hour included: the jobs keep it up to date).
    static func spent(_ budget: Budget, in period: Range<Int64>, _ db: Database) throws -> Int64 {
        // Every call has exactly one model (possibly ''), so the global spend is the sum over models.
        let (dimension, key) = budget.dimension == .global ? ("model", nil) : (budget.dimension.rawValue, budget.value ?? "")
        var arguments: StatementArguments = [dimension, period.lowerBound, period.upperBound]
        if let key { arguments += [key] }
        return try Int64.fetchOne(db, sql: """
            SELECT coalesce(sum(cost_micros), 0) FROM cost_by_dimension_1h
            WHERE dimension = ? AND bucket_ns >= ? AND bucket_ns < ?\(key == nil ? "" : " AND key = ?")
            """, arguments: arguments) ?? 0
    }

    /// Records an alert for every threshold `status` has reached in its period, once; returns
    /// the alerts recorded now.
    func recordAlerts(_ status: BudgetStatus, now: Int64) async throws -> [BudgetAlert] {
        let reached = status.budget.alertThresholds.filter { status.fractionUsed >= $0 }
        guard !reached.isEmpty else { return [] }
        return try await pool.write { db in
            var recorded: [BudgetAlert] = []
            for threshold in reached {
                try db.execute(sql: """
                    INSERT OR IGNORE INTO budget_alerts (budget_id, period_start_ns, threshold, spent_micros, limit_micros, fired_at_ns, webhook_status)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [status.budget.id, status.period.lowerBound, threshold, status.spentMicros,
                                     status.budget.limitMicros, now, "none"])
                if db.changesCount == 1, let row = try Row.fetchOne(db, sql: "SELECT * FROM budget_alerts WHERE id = ?",
                                                                    arguments: [db.lastInsertedRowID]) {
                    recorded.append(BudgetAlert(row))
                }
            }
            return recorded
        }
    }

    static func budget(_ row: Row) throws -> Budget {
        let stored = try? JSONValue.parse(Array((row["alert_thresholds"] as String).utf8))
        let thresholds = if case .array(let items)? = stored { items.compactMap(\.number) } else { [Double]() }
        return Budget(id: row["id"], dimension: Budget.Dimension(rawValue: row["dimension"]) ?? .global, value: row["value"],
                      period: Budget.Period(rawValue: row["period"]) ?? .monthly, limitMicros: row["limit_micros"],
                      alertThresholds: thresholds, createdAt: row["created_at_ns"])
    }

    static func encode(_ thresholds: [Double]) -> String {
        "[" + thresholds.map { String($0) }.joined(separator: ",") + "]"
    }
}
