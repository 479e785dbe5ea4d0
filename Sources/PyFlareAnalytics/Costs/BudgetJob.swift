import AsyncHTTPClient
import Foundation
import PyFlareStore
import GRDB
import Logging
import NIOCore
import NIOHTTP1
import PyFlareWire
import Synchronization

/// The Swift job that checks every budget against the rollups: a threshold reached in a
/// period is recorded once (`budget_alerts`) and, with a webhook configured, posted to it
/// in the background.
public struct BudgetJob: AnalyticsJob {
    public let name = "budgets"
    public let schedule: JobSchedule
    public let outputTable: String? = "budget_alerts"
    let notifier: WebhookNotifier?

    public init(schedule: JobSchedule = .every(seconds: 60), notifier: WebhookNotifier?) {
        self.schedule = schedule
        self.notifier = notifier
    }

    public func run(_ context: JobContext) async throws -> JobOutcome {
        let book = BudgetBook(pool: context.pool)
        let statuses = try await book.statuses(try await book.budgets(), now: context.now)
        var recorded = 0
        for status in statuses {
            let alerts = try await book.recordAlerts(status, webhook: notifier != nil, now: context.now)
            recorded += alerts.count
            for alert in alerts {
                context.logger.notice("budget threshold reached", metadata: [
                    "budget": "\(status.budget.id)", "threshold": "\(alert.threshold)", "spent_micros": "\(alert.spentMicros)",
                ])
            }
        }
        // Also alerts a restart or a failed attempt left undelivered.
        notifier?.deliverPending(pool: context.pool)
        return JobOutcome(rows: recorded)
    }
}

/// Posts budget alerts to the configured URL as JSON, retried with exponential backoff, off
/// the job's path; each alert's delivery state is kept in `budget_alerts`.
public final class WebhookNotifier: Sendable {
    public let url: String
    let attempts: Int
    let firstBackoff: Duration
    let logger: Logger
    private let inFlight = Mutex<Set<Int64>>([])

    public init(url: String, attempts: Int = 5, firstBackoff: Duration = .seconds(1), logger: Logger) {
        self.url = url
        self.attempts = attempts
        self.firstBackoff = firstBackoff
        self.logger = logger
    }

    /// Starts delivering every pending alert not already on its way.
    func deliverPending(pool: DatabasePool) {
        Task {
            do {
                let pending = try await pool.readRows { db in
                    try Row.fetchAll(db, sql: """
                        SELECT a.*, b.dimension, b.value, b.period FROM budget_alerts a JOIN budgets b ON b.id = a.budget_id
                        WHERE a.webhook_status = 'pending' ORDER BY a.id
                        """)
                }
                for row in pending {
                    let alert = BudgetAlert(row)
                    guard inFlight.withLock({ $0.insert(alert.id).inserted }) else { continue }
                    let payload = Self.payload(alert, dimension: row["dimension"], value: row["value"], period: row["period"])
                    Task {
                        await self.deliver(alert.id, payload: payload, pool: pool)
                        _ = self.inFlight.withLock { $0.remove(alert.id) }
                    }
                }
            } catch {
                logger.error("reading pending budget alerts failed", metadata: ["error": "\(error)"])
            }
        }
    }

    private func deliver(_ id: Int64, payload: [UInt8], pool: DatabasePool) async {
        var backoff = firstBackoff
        for attempt in 1...attempts {
            var failure: String?
            do {
                var request = HTTPClientRequest(url: url)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.headers.add(name: "User-Agent", value: "pyflare")
                request.body = .bytes(ByteBuffer(bytes: payload))
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                if (200..<300).contains(response.status.code) {
                    try? await pool.write { db in
                        try db.execute(sql: "UPDATE budget_alerts SET webhook_status = 'delivered', webhook_attempts = ? WHERE id = ?",
                                       arguments: [attempt, id])
                    }
                    return
                }
                failure = "HTTP \(response.status.code)"
            } catch {
                failure = "\(error)"
            }
            let last = attempt == attempts
            try? await pool.write { db in
                try db.execute(sql: "UPDATE budget_alerts SET webhook_status = ?, webhook_attempts = ? WHERE id = ?",
                               arguments: [last ? "failed" : "pending", attempt, id])
            }
            logger.warning("budget alert webhook failed", metadata: [
                "alert": "\(id)", "attempt": "\(attempt)", "error": "\(failure ?? "?")", "retrying": "\(!last)",
            ])
            if last { return }
            try? await Task.sleep(for: backoff)
            backoff *= 2
        }
    }

    /// `{"type": "budget_alert", "alert_id", "budget": {…}, "threshold", "spent_usd", …}`.
    static func payload(_ alert: BudgetAlert, dimension: String, value: String?, period: String) -> [UInt8] {
        let bounds = (Budget.Period(rawValue: period) ?? .monthly).bounds(containing: alert.periodStart)
        var json = JSONWriter()
        json.raw(#"{"type":"budget_alert","alert_id":"#)
        json.int(alert.id)
        json.raw(#","budget":{"id":"#)
        json.int(alert.budgetID)
        json.member("dimension", dimension)
        json.key("value")
        if let value { json.string(value) } else { json.null() }
        json.member("period", period)
        json.member("limit_usd", micros: alert.limitMicros)
        json.raw(#"},"threshold":"#)
        json.double(alert.threshold)
        json.member("spent_usd", micros: alert.spentMicros)
        json.member("percent_used", Budget.percent(spent: alert.spentMicros, of: alert.limitMicros))
        json.member("period_start", time: bounds.lowerBound)
        json.member("period_end", time: bounds.upperBound)
        json.member("fired_at", time: alert.firedAt)
        json.raw("}")
        return json.bytes
    }
}
