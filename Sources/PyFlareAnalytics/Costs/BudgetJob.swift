import GRDB
import Logging

/// The Swift job that checks every budget against the rollups: a threshold reached in a
/// period is recorded once (`budget_alerts`), the budget's history. Notifying anyone is the
/// alert system's: a `budget` rule (`budgets.webhook_url` configures one).
public struct BudgetJob: AnalyticsJob {
    public let name = "budgets"
    public let schedule: JobSchedule
    public let outputTable: String? = "budget_alerts"

    public init(schedule: JobSchedule = .every(seconds: 60)) {
        self.schedule = schedule
    }

    public func run(_ context: JobContext) async throws -> JobOutcome {
        let book = BudgetBook(pool: context.pool)
        let statuses = try await book.statuses(try await book.budgets(), now: context.now)
        var recorded = 0
        for status in statuses {
            let alerts = try await book.recordAlerts(status, now: context.now)
            recorded += alerts.count
            for alert in alerts {
                context.logger.notice("budget threshold reached", metadata: [
                    "budget": "\(status.budget.id)", "threshold": "\(alert.threshold)", "spent_micros": "\(alert.spentMicros)",
                ])
            }
        }
        return JobOutcome(rows: recorded)
    }
}
