import Foundation
public import Hummingbird
public import PyFlareAnalytics
import PyFlareModel
import PyFlareWire

/// Alert rules and what they fired (docs/alerts.md): `GET/POST /api/v1/alerts/rules`,
/// `GET/PUT/DELETE /api/v1/alerts/rules/{id}`, `POST/DELETE /api/v1/alerts/rules/{id}/silence`
/// and `GET /api/v1/alerts/events`. The rules are evaluated by the scheduler's `alerts` job.
public struct AlertRoutes: Sendable {
    let alerts: AlertBook
    static let maxBodyBytes = 64 << 10

    public init(alerts: AlertBook) {
        self.alerts = alerts
    }

    public func routes<Context: RequestContext>(context: Context.Type = Context.self) -> APIRouteCollection<Context> {
        let routes = APIRouteCollection(context: Context.self)
        routes.api("/api/v1/alerts/rules") { _, _ in
            let rules = try await alerts.rules()
            return .jsonList("rules", rules, bytesPerItem: 512) { rule, json in
                Self.write(rule, into: &json)
            }
        }
        routes.api("/api/v1/alerts/rules", method: .post) { request, _ in
            let now = UnixTime.nowNanoseconds()
            let rule = try Self.rule(from: JSONFields(try await JSONBody.read(request, maxBytes: Self.maxBodyBytes)), id: 0, created: now, now: now)
            return Self.answer(try await alerts.create(rule), status: .created)
        }
        routes.api("/api/v1/alerts/rules/:id") { _, context in
            Self.answer(try await rule(try context.parameters.path("id")))
        }
        routes.api("/api/v1/alerts/rules/:id", method: .put) { request, context in
            let existing = try await rule(try context.parameters.path("id"))
            var rule = try Self.rule(from: JSONFields(try await JSONBody.read(request, maxBytes: Self.maxBodyBytes)), id: existing.id,
                                     created: existing.created, now: UnixTime.nowNanoseconds())
            rule.silencedUntil = existing.silencedUntil
            guard try await alerts.update(rule) else { throw APIError.notFound("no alert rule \(existing.id)") }
            return Self.answer(rule)
        }
        routes.api("/api/v1/alerts/rules/:id", method: .delete) { _, context in
            let id = try Self.ruleID(try context.parameters.path("id"))
            guard try await alerts.delete(id) else { throw APIError.notFound("no alert rule \(id)") }
            return Response(status: .noContent)
        }
        routes.api("/api/v1/alerts/rules/:id/silence", method: .post) { request, context in
            let id = try Self.ruleID(try context.parameters.path("id"))
            let fields = JSONFields(try await JSONBody.read(request, maxBytes: Self.maxBodyBytes))
            let now = UnixTime.nowNanoseconds()
            let until: Int64
            if let text = try fields.string("until") {
                guard let time = RFC3339.nanoseconds(text), Int64(time) > now else { throw APIError.invalid("until", "must be an RFC 3339 time in the future") }
                until = Int64(time)
            } else {
                let text = try fields.string("for") ?? "1h"
                guard let duration = DurationText.nanoseconds(text), duration > 0 else {
                    throw APIError.invalid("for", "must be a duration such as 30m, 2h or 1d, not \"\(text)\"")
                }
                until = now.addingSaturating(duration)
            }
            guard try await alerts.silence(id, until: until, now: now) else { throw APIError.notFound("no alert rule \(id)") }
            return Self.answer(try await rule(String(id)))
        }
        routes.api("/api/v1/alerts/rules/:id/silence", method: .delete) { _, context in
            let id = try Self.ruleID(try context.parameters.path("id"))
            guard try await alerts.silence(id, until: nil, now: UnixTime.nowNanoseconds()) else { throw APIError.notFound("no alert rule \(id)") }
            return Self.answer(try await rule(String(id)))
        }
        routes.api("/api/v1/alerts/events") { request, _ in
            let parameters = QueryParameters(request)
            let rule = try parameters.text("rule_id").map { text throws(APIError) in try Self.ruleID(text, field: "rule_id") }
            let state = parameters.text("state")
            guard state == nil || state == "open" else { throw APIError.invalid("state", "must be \"open\" or absent") }
            let limit = try parameters.limit(default: 100, maximum: 1000)
            let events = try await alerts.events(rule: rule, openOnly: state == "open", limit: limit)
            return .jsonList("events", events, bytesPerItem: 768) { event, json in
                Self.write(event, into: &json)
            }
        }
        return routes
    }

    func rule(_ text: String) async throws -> AlertRule {
        let id = try Self.ruleID(text)
        guard let rule = try await alerts.rule(id) else { throw APIError.notFound("no alert rule \(id)") }
        return rule
    }

    static func ruleID(_ text: String, field: String = "id") throws(APIError) -> Int64 {
        guard let id = Int64(text), id > 0 else { throw .invalid(field, "must be a rule id (a positive integer), not \"\(text.prefix(64))\"") }
        return id
    }

    static func answer(_ rule: AlertRule, status: HTTPResponse.Status = .ok) -> Response {
        var json = JSONWriter()
        write(rule, into: &json)
        return .json(json, status: status)
    }

    // MARK: - Reading a rule

    /// A rule from a request body; 400 naming the member that is wrong.
    static func rule(from fields: JSONFields, id: Int64, created: Int64, now: Int64) throws(APIError) -> AlertRule {
        let name = try fields.requiredString("name")
        let kindText = try fields.requiredString("kind")
        guard let kind = AlertRule.Kind(rawValue: kindText) else {
            throw .invalid("kind", "must be \(AlertRule.Kind.allCases.map(\.rawValue).joined(separator: " or ")), not \"\(kindText)\"")
        }
        var rule = AlertRule(id: id, name: name, kind: kind, channels: try channels(fields), enabled: try bool(fields, "enabled") ?? true,
                             created: created, updated: now)
        switch kind {
        case .metric:
            let metricText = try fields.requiredString("metric")
            guard let metric = AlertRule.Metric(rawValue: metricText) else {
                throw .invalid("metric", "must be one of \(AlertRule.Metric.allCases.map(\.rawValue).joined(separator: ", ")), not \"\(metricText)\"")
            }
            rule.metric = metric
            rule.windowNanoseconds = try window(fields, default: "5m")
            let operatorText = try fields.string("operator") ?? ">"
            guard let comparison = AlertRule.Comparison(rawValue: operatorText) else { throw .invalid("operator", "must be >, >=, < or <=") }
            rule.comparison = comparison
            rule.threshold = try fields.requiredNumber("threshold")
            if let minimum = try fields.number("min_requests") {
                guard minimum >= 1, minimum <= 1e12, minimum == minimum.rounded() else { throw .invalid("min_requests", "must be a whole number, 1 or more") }
                rule.minRequests = Int64(minimum)
            } else if metric == .errorRate || metric == .p95LatencyMs {
                rule.minRequests = 10
            }
            rule.filter = try filter(fields, dimensions: AlertRule.filterDimensions)
        case .pattern:
            if let types = fields.value("types") {
                guard case .array(let items) = types else { throw .invalid("types", "must be an array of pattern types") }
                rule.patternTypes = try items.map { item throws(APIError) in
                    guard let type = item.text, PatternType(rawValue: type) != nil else {
                        throw .invalid("types", "holds \(item.text.map { "\"\($0)\"" } ?? "a non-string"): use \(PatternType.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                    return type
                }
            }
            let severity = try fields.number("min_severity") ?? 0
            guard (0...1).contains(severity) else { throw .invalid("min_severity", "must be from 0 to 1") }
            rule.minSeverity = severity
        case .drift:
            rule.windowNanoseconds = try window(fields, default: "2h")
            if let severities = fields.value("severities") {
                guard case .array(let items) = severities, !items.isEmpty else {
                    throw .invalid("severities", "must be a non-empty array of \(AlertRule.driftSeverities.joined(separator: ", "))")
                }
                rule.patternTypes = try items.map { item throws(APIError) in
                    guard let text = item.text, AlertRule.driftSeverities.contains(text) else {
                        throw .invalid("severities", "holds something other than \(AlertRule.driftSeverities.joined(separator: " or "))")
                    }
                    return text
                }
            } else {
                rule.patternTypes = ["significant"]
            }
            rule.filter = try filter(fields, dimensions: AlertRule.driftFilterDimensions)
        case .budget:
            // Without one, each budget's own alert thresholds fire (as `budgets.webhook_url` announced them).
            let fraction = try fields.number("threshold")
            if let fraction, !(fraction > 0 && fraction <= 10) {
                throw .invalid("threshold", "must be a fraction of the limit above 0 and at most 10 (0.8 is 80%)")
            }
            rule.threshold = fraction
            rule.filter = try filter(fields, dimensions: ["budget"])
            if let id = rule.filter.first?.1, Int64(id).map({ $0 > 0 }) != true {
                throw .invalid("filter.budget", "must be a budget id, such as \"3\"")
            }
        }
        return rule
    }

    private static func window(_ fields: JSONFields, default text: String) throws(APIError) -> Int64 {
        let windowText = try fields.string("window") ?? text
        guard let window = DurationText.nanoseconds(windowText), window >= UnixTime.minute, window <= 31 * UnixTime.day else {
            throw .invalid("window", "must be a duration from 1m to 31d, such as 15m or 1h, not \"\(windowText)\"")
        }
        return window
    }

    private static func filter(_ fields: JSONFields, dimensions: [String]) throws(APIError) -> [(String, String)] {
        guard let filter = fields.value("filter") else { return [] }
        guard case .object(let members) = filter else { throw .invalid("filter", "must be an object of dimension values") }
        return try members.map { member throws(APIError) in
            guard dimensions.contains(member.key) else {
                throw .invalid("filter.\(member.key)", "is not a dimension: use \(dimensions.joined(separator: ", "))")
            }
            guard case .string(let value) = member.value else { throw .invalid("filter.\(member.key)", "must be a string") }
            return (member.key, value)
        }
    }

    private static func channels(_ fields: JSONFields) throws(APIError) -> [AlertRule.Channel] {
        guard let value = fields.value("channels") else { return [] }
        guard case .array(let items) = value else { throw .invalid("channels", "must be an array of {\"type\", \"url\"}") }
        return try items.enumerated().map { index, item throws(APIError) in
            let field = "channels[\(index)]"
            guard let typeText = item["type"]?.text, let type = AlertRule.Channel.Kind(rawValue: typeText) else {
                throw .invalid("\(field).type", "must be \(AlertRule.Channel.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if type == .email {
                guard case .array(let addresses)? = item["to"], !addresses.isEmpty, addresses.count <= 50 else {
                    throw .invalid("\(field).to", "must be an array of 1 to 50 email addresses")
                }
                let recipients = try addresses.map { address throws(APIError) in
                    // One mailbox each: no display names, separators or line breaks that could smuggle headers.
                    guard let text = address.text, text.count <= 254, text.split(separator: "@").count == 2, !text.hasPrefix("@"),
                          !text.contains(where: { $0 == "," || $0 == "<" || $0 == ">" || $0.isWhitespace || $0.isNewline }) else {
                        throw .invalid("\(field).to", "holds something that is not an email address")
                    }
                    return text
                }
                return AlertRule.Channel(kind: .email, url: recipients.joined(separator: ","))
            }
            guard let url = item["url"]?.text, url.hasPrefix("http://") || url.hasPrefix("https://"), URL(string: url)?.host != nil else {
                throw .invalid("\(field).url", "must be an http:// or https:// URL")
            }
            return AlertRule.Channel(kind: type, url: url)
        }
    }

    private static func bool(_ fields: JSONFields, _ key: String) throws(APIError) -> Bool? {
        guard let value = fields.value(key) else { return nil }
        guard case .bool(let flag) = value else { throw .invalid(key, "must be true or false") }
        return flag
    }

    // MARK: - Answers

    /// A rule as every answer writes it. Channel URLs are shown: whoever reads rules may
    /// read where they notify (a Slack webhook URL is a secret to the world, not to the team).
    static func write(_ rule: AlertRule, into json: inout JSONWriter) {
        json.raw("{")
        json.member("id", rule.id)
        json.member("name", rule.name)
        json.member("kind", rule.kind.rawValue)
        json.member("enabled", rule.enabled)
        switch rule.kind {
        case .metric:
            json.member("metric", rule.metric?.rawValue)
            json.member("window", rule.windowNanoseconds.map(DurationText.text))
            json.member("operator", rule.comparison?.rawValue)
            json.member("threshold", rule.threshold)
            json.member("min_requests", rule.minRequests)
            json.key("filter")
            json.stringObject(rule.filter)
        case .pattern:
            json.member("types", rule.patternTypes)
            json.member("min_severity", rule.minSeverity)
        case .drift:
            json.member("severities", rule.severities)
            json.member("window", rule.windowNanoseconds.map(DurationText.text))
            json.key("filter")
            json.stringObject(rule.filter)
        case .budget:
            json.member("threshold", rule.threshold)
            json.key("filter")
            json.stringObject(rule.filter)
        }
        json.key("channels")
        json.raw("[")
        json.elements(of: rule.channels) { channel, json in
            json.raw("{")
            json.member("type", channel.kind.rawValue)
            if channel.kind == .email { json.member("to", channel.recipients) } else { json.member("url", channel.url) }
            json.raw("}")
        }
        json.raw("]")
        json.member("silenced_until", time: rule.isSilenced(at: UnixTime.nowNanoseconds()) ? rule.silencedUntil : nil)
        json.member("created_at", time: rule.created)
        json.member("updated_at", time: rule.updated)
        json.raw("}")
    }

    static func write(_ event: AlertEvent, into json: inout JSONWriter) {
        json.raw("{")
        json.member("id", event.id)
        json.member("rule_id", event.ruleID)
        json.member("key", event.key)
        json.member("state", event.resolved == nil ? "firing" : "resolved")
        json.member("fired_at", time: event.fired)
        json.member("resolved_at", time: event.resolved)
        json.member("value", event.value)
        json.member("threshold", event.threshold)
        json.member("summary", event.summary)
        json.member("link", event.link)
        json.member("silenced", event.silenced)
        json.key("deliveries")
        json.raw("[")
        json.elements(of: event.deliveries) { delivery, json in
            json.raw("{")
            json.member("id", delivery.id)
            json.member("state", delivery.state)
            json.member("channel", delivery.channel.rawValue)
            json.member("target", delivery.target)
            json.member("status", delivery.status.rawValue)
            json.member("attempts", delivery.attempts)
            json.member("next_attempt_at", time: delivery.status == .pending ? delivery.nextAttempt : nil)
            json.member("last_error", delivery.lastError)
            json.member("delivered_at", time: delivery.delivered)
            json.raw("}")
        }
        json.raw("]}")
    }
}
