import Foundation
public import Hummingbird
import PyFlareAnalytics
import PyFlareWire

/// `GET /api/v1/costs/summary` and the budgets (`GET/POST /api/v1/costs/budgets`,
/// `GET/PUT/DELETE /api/v1/costs/budgets/{id}`, `GET /api/v1/costs/budgets/{id}/alerts`), all
/// answered from materialized tables.
public struct CostRoutes: Sendable {
    let costs: CostReadModel
    /// The version of the prices costs are computed with, said in every summary.
    let pricingVersion: @Sendable () -> String
    static let maxBodyBytes = 64 << 10
    /// Groups answered one by one in a series when the request sets no `limit`.
    static let defaultSeriesGroups = 20

    public init(costs: CostReadModel, pricingVersion: @escaping @Sendable () -> String) {
        self.costs = costs
        self.pricingVersion = pricingVersion
    }

    public func routes<Context: RequestContext>(context: Context.Type = Context.self) -> APIRouteCollection<Context> {
        let routes = APIRouteCollection(context: Context.self)
        routes.api("/api/v1/costs/summary") { request, _ in try await summary(QueryParameters(request)) }
        routes.api("/api/v1/costs/budgets") { _, _ in try await listBudgets() }
        routes.api("/api/v1/costs/budgets", method: .post) { request, _ in try await createBudget(request) }
        routes.api("/api/v1/costs/budgets/:id") { _, context in
            let budget = try await budget(try context.parameters.path("id"))
            let status = try await costs.budgets.statuses([budget], now: UnixTime.nowNanoseconds())
            var json = JSONWriter()
            Self.write(status[0], into: &json)
            return .json(json)
        }
        routes.api("/api/v1/costs/budgets/:id", method: .put) { request, context in
            let existing = try await budget(try context.parameters.path("id"))
            let fields = JSONFields(try await JSONBody.read(request, maxBytes: Self.maxBodyBytes))
            var replacement = try Self.budget(from: fields, now: existing.createdAt)
            replacement.id = existing.id
            guard try await costs.budgets.update(replacement) else { throw APIError.notFound("no budget \(existing.id)") }
            let status = try await costs.budgets.statuses([replacement], now: UnixTime.nowNanoseconds())
            var json = JSONWriter()
            Self.write(status[0], into: &json)
            return .json(json)
        }
        routes.api("/api/v1/costs/budgets/:id", method: .delete) { _, context in
            let id = try Self.budgetID(try context.parameters.path("id"))
            guard try await costs.budgets.delete(id) else { throw APIError.notFound("no budget \(id)") }
            return Response(status: .noContent)
        }
        routes.api("/api/v1/costs/budgets/:id/alerts") { _, context in try await alerts(try context.parameters.path("id")) }
        return routes
    }

    // MARK: - Summary

    func summary(_ parameters: QueryParameters) async throws -> Response {
        let groupBy: CostSummaryQuery.GroupBy
        if let text = parameters.text("group_by") {
            guard let value = CostSummaryQuery.GroupBy(rawValue: text) else {
                throw APIError.invalid("group_by", "must be one of \(CostSummaryQuery.GroupBy.allCases.map(\.rawValue).joined(separator: ", ")), not \"\(text)\"")
            }
            groupBy = value
        } else {
            groupBy = .model
        }
        var interval: Int64?
        if let text = parameters.text("interval") {
            switch text {
            case "1h": interval = UnixTime.hour
            case "1d": interval = UnixTime.day
            default: throw APIError.invalid("interval", "must be 1h or 1d, not \"\(text)\"")
            }
        }
        let (since, until) = try parameters.timeRange()
        let end = until.map { Int64(clamping: $0) } ?? UnixTime.nowNanoseconds()
        let start = since.map { Int64(clamping: $0) } ?? end - UnixTime.day
        guard start < end else { throw APIError.invalid("since", "must be before until") }
        // A series answers the costliest groups one by one and the rest as `other` unless told
        // otherwise: a chart's worth of lines, whatever the number of users.
        let limit: Int? = parameters.text("limit") == nil
            ? (interval == nil ? nil : Self.defaultSeriesGroups) : try parameters.limit(default: 0, maximum: 10_000)
        let query = CostSummaryQuery(groupBy: groupBy, since: start, until: end, interval: interval, limit: limit)
        let summary = try await costs.summary(query)

        let points = summary.groups.reduce(summary.groups.count) { $0 + $1.series.count }
        var json = JSONWriter(capacity: 256 * points + 256)
        json.raw("{")
        json.member("materialized_at", time: summary.materializedAt)
        json.raw(#","currency":"USD","pricing_version":"#)
        json.string(pricingVersion())
        json.member("group_by", groupBy.rawValue)
        json.member("since", time: summary.coveredSince)
        json.member("until", time: summary.coveredUntil)
        json.member("interval", parameters.text("interval"))
        json.raw(#","groups":["#)
        var times = BucketTimes()
        json.elements(of: summary.groups) { group, json in
            json.raw("{")
            json.member("key", group.key)
            json.byte(UInt8(ascii: ","))
            Self.group(group, times: &times, into: &json)
        }
        json.raw(#"],"group_count":"#)
        json.int(Int64(summary.groupCount))
        json.key("other")
        if let other = summary.other {
            json.byte(UInt8(ascii: "{"))
            Self.group(other, times: &times, into: &json)
        } else {
            json.null()
        }
        json.raw(#","total":{"#)
        Self.figures(summary.total, into: &json)
        json.raw("}}")
        return .json(json)
    }

    /// A group's figures and series, and its closing brace.
    static func group(_ group: CostSummary.Group, times: inout BucketTimes, into json: inout JSONWriter) {
        Self.figures(group.figures, into: &json)
        json.raw(#","series":["#)
        for (position, bucket) in group.series.enumerated() {
            if position > 0 { json.byte(UInt8(ascii: ",")) }
            json.raw("{")
            json.key("start")
            times.write(bucket.start, into: &json)
            json.byte(UInt8(ascii: ","))
            Self.figures(bucket.figures, into: &json)
            json.byte(UInt8(ascii: "}"))
        }
        json.raw("]}")
    }

    /// Bucket starts as JSON time strings, each formatted once: every group's series has the
    /// same buckets, and formatting was a tenth of a month-long hourly answer.
    struct BucketTimes {
        private var texts: [Int64: [UInt8]] = [:]

        mutating func write(_ start: Int64, into json: inout JSONWriter) {
            if let text = texts[start] { return json.bytes.append(contentsOf: text) }
            var formatted = JSONWriter(capacity: 32)
            formatted.time(start)
            texts[start] = formatted.bytes
            json.bytes.append(contentsOf: formatted.bytes)
        }
    }

    /// The members of one group, bucket or total (without braces).
    static func figures(_ figures: CostFigures, into json: inout JSONWriter) {
        json.raw(#""requests":"#)
        json.int(figures.requests)
        json.member("input_tokens", figures.inputTokens)
        json.member("output_tokens", figures.outputTokens)
        json.member("cached_tokens", figures.cachedTokens)
        json.member("reasoning_tokens", figures.reasoningTokens)
        json.member("cost_micros", figures.costMicros)
        json.member("cost_usd", micros: figures.costMicros)
        json.member("unpriced_requests", figures.unpricedRequests)
    }

    // MARK: - Budgets

    func listBudgets() async throws -> Response {
        let book = costs.budgets
        let statuses = try await book.statuses(try await book.budgets(), now: UnixTime.nowNanoseconds())
        return .jsonList("budgets", statuses, bytesPerItem: 384) { status, json in
            Self.write(status, into: &json)
        }
    }

    func createBudget(_ request: Request) async throws -> Response {
        let fields = JSONFields(try await JSONBody.read(request, maxBytes: Self.maxBodyBytes))
        let budget = try Self.budget(from: fields, now: UnixTime.nowNanoseconds())
        let created = try await costs.budgets.create(budget)
        let status = try await costs.budgets.statuses([created], now: UnixTime.nowNanoseconds())
        var json = JSONWriter()
        Self.write(status[0], into: &json)
        return .json(json, status: .created)
    }

    /// A budget from a request body; 400 naming the member that is wrong.
    static func budget(from fields: JSONFields, now: Int64) throws(APIError) -> Budget {
        let dimensionText = try fields.string("dimension") ?? "global"
        guard let dimension = Budget.Dimension(rawValue: dimensionText) else {
            throw .invalid("dimension", "must be one of \(Budget.Dimension.allCases.map(\.rawValue).joined(separator: ", ")), not \"\(dimensionText)\"")
        }
        var value: String?
        if dimension == .global {
            if try fields.string("value") != nil { throw .invalid("value", "must be absent for the global budget") }
        } else {
            guard let text = try fields.string("value"), !text.isEmpty else {
                throw .invalid("value", "is required for a budget by \(dimension.rawValue): the \(dimension.rawValue) it limits")
            }
            value = text
        }
        guard let periodText = try fields.string("period") else { throw .invalid("period", "is required (hourly, daily, weekly or monthly)") }
        guard let period = Budget.Period(rawValue: periodText) else {
            throw .invalid("period", "must be hourly, daily, weekly or monthly, not \"\(periodText)\"")
        }
        guard let limit = try fields.number("limit_usd") else { throw .invalid("limit_usd", "is required") }
        let limitMicros = (limit * 1e6).rounded()
        guard limit > 0, limitMicros >= 1, limitMicros < 9e15 else {
            throw .invalid("limit_usd", "must be a positive amount of US dollars (at least 0.000001)")
        }
        var thresholds = [0.5, 0.8, 1.0]
        if let value = fields.value("alert_thresholds") {
            guard case .array(let elements) = value else { throw .invalid("alert_thresholds", "must be an array of numbers") }
            thresholds = try elements.map { (element) throws(APIError) -> Double in
                guard let number = element.number, number.isFinite, number > 0, number <= 10 else {
                    throw .invalid("alert_thresholds", "must hold fractions of the limit above 0 and at most 10 (0.8 is 80%)")
                }
                return number
            }
            thresholds = Array(Set(thresholds)).sorted()
        }
        return Budget(dimension: dimension, value: value, period: period, limitMicros: Int64(limitMicros),
                      alertThresholds: thresholds, createdAt: now)
    }

    func budget(_ text: String?) async throws -> Budget {
        let id = try Self.budgetID(text)
        guard let budget = try await costs.budgets.budget(id) else { throw APIError.notFound("no budget \(id)") }
        return budget
    }

    static func budgetID(_ text: String?) throws(APIError) -> Int64 {
        guard let text, let id = Int64(text), id > 0 else { throw .invalid("id", "must be a budget id (a positive integer), not \"\(text ?? "")\"") }
        return id
    }

    func alerts(_ id: String?) async throws -> Response {
        let budget = try await budget(id)
        let alerts = try await costs.budgets.alerts(of: budget.id)
        return .jsonList("alerts", alerts, bytesPerItem: 256) { alert, json in
            let period = budget.period.bounds(containing: alert.periodStart)
            json.raw("{")
            json.member("id", alert.id)
            json.member("budget_id", alert.budgetID)
            json.member("threshold", alert.threshold)
            json.member("spent_usd", micros: alert.spentMicros)
            json.member("limit_usd", micros: alert.limitMicros)
            json.member("period_start", time: period.lowerBound)
            json.member("period_end", time: period.upperBound)
            json.member("fired_at", time: alert.firedAt)
            json.byte(UInt8(ascii: "}"))
        }
    }

    static func write(_ status: BudgetStatus, into json: inout JSONWriter) {
        let budget = status.budget
        json.raw("{")
        json.member("id", budget.id)
        json.member("dimension", budget.dimension.rawValue)
        json.member("value", budget.value)
        json.member("period", budget.period.rawValue)
        json.member("limit_usd", micros: budget.limitMicros)
        json.raw(#","alert_thresholds":["#)
        json.elements(of: budget.alertThresholds) { threshold, json in
            json.double(threshold)
        }
        json.raw(#"],"spent_usd":"#)
        json.micros(status.spentMicros)
        json.member("remaining_usd", micros: status.remainingMicros)
        json.member("percent_used", Budget.percent(spent: status.spentMicros, of: status.budget.limitMicros))
        json.member("status", status.state.rawValue)
        json.member("forecast_usd", micros: status.forecastMicros)
        json.member("period_start", time: status.period.lowerBound)
        json.member("period_end", time: status.period.upperBound)
        json.member("created_at", time: budget.createdAt)
        json.member("materialized_at", time: status.materializedAt)
        json.byte(UInt8(ascii: "}"))
    }
}
