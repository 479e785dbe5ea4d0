import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PyFlareWire
import Synchronization

/// Sends the queued notifications of alert events, off the job's path: each delivery is
/// tried until its channel answers 2xx, `attempts` times at most, `firstBackoff`, twice that,
/// four times… apart; every attempt's outcome is kept in `alert_deliveries` (a restart goes on
/// where it stopped).
public final class AlertDispatcher: Sendable {
    /// Where the links of a notification point: the UI's address as its readers reach it.
    public let publicURL: String
    let attempts: Int
    let firstBackoff: Duration
    let logger: Logger
    let smtp: SMTPSettings?
    private let running = Mutex(false)

    /// Where email notifications go out (`alerts.smtp.*`).
    public struct SMTPSettings: Sendable {
        public var host: String
        public var port: Int
        public var from: String
        public var security: SMTPSecurity
        public var username: String?
        public var password: String?
        public var caFile: String?

        public init(host: String, port: Int, from: String, security: SMTPSecurity = .none, username: String? = nil,
                    password: String? = nil, caFile: String? = nil) {
            self.host = host
            self.port = port
            self.from = from
            self.security = security
            self.username = username
            self.password = password
            self.caFile = caFile
        }
    }

    public init(publicURL: String, attempts: Int = 6, firstBackoff: Duration = .seconds(5), smtp: SMTPSettings? = nil, logger: Logger) {
        self.publicURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        self.attempts = attempts
        self.firstBackoff = firstBackoff
        self.smtp = smtp
        self.logger = logger
    }

    /// Starts sending what is due, unless a sender is already at it; it stays while
    /// deliveries are pending, sleeping until the next one is due.
    func deliverDue(book: AlertBook) {
        guard running.withLock({ running in
            defer { running = true }
            return !running
        }) else { return }
        Task {
            defer { running.withLock { $0 = false } }
            do {
                while true {
                    let now = UnixTime.nowNanoseconds()
                    for (delivery, event, rule) in try await book.dueDeliveries(now: now) {
                        try await deliver(delivery, event: event, rule: rule, book: book)
                    }
                    guard let next = try await book.nextDeliveryTime() else { return }
                    let wait = max(0, next - UnixTime.nowNanoseconds())
                    try await Task.sleep(for: .nanoseconds(min(wait, 60 * 1_000_000_000)))
                }
            } catch {
                logger.error("sending alert notifications failed", metadata: ["error": "\(error)"])
            }
        }
    }

    private func deliver(_ delivery: AlertDelivery, event: AlertEvent, rule: String, book: AlertBook) async throws {
        let attempt = delivery.attempts + 1
        var failure: String
        if delivery.channel == .email {
            do {
                try await sendEmail(delivery, event: event, rule: rule)
                try await book.recordDelivered(delivery.id, attempts: attempt, now: UnixTime.nowNanoseconds())
                return
            } catch {
                failure = DeliveryErrorText.describe(error)
            }
        } else { do {
            var request = HTTPClientRequest(url: delivery.target)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "User-Agent", value: "pyflare")
            request.body = .bytes(ByteBuffer(bytes: payload(delivery, event: event, rule: rule)))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            if (200..<300).contains(response.status.code) {
                try await book.recordDelivered(delivery.id, attempts: attempt, now: UnixTime.nowNanoseconds())
                return
            }
            failure = "HTTP \(response.status.code)"
        } catch {
            failure = DeliveryErrorText.describe(error)
        } }
        let retryAt = attempt < attempts ? UnixTime.nowNanoseconds() + firstBackoff.inNanoseconds << (attempt - 1) : nil
        try await book.recordFailure(delivery.id, attempts: attempt, error: failure, retryAt: retryAt)
        logger.warning("alert notification failed", metadata: [
            "delivery": "\(delivery.id)", "event": "\(event.id)", "channel": "\(delivery.channel.rawValue)",
            "attempt": "\(attempt)", "error": "\(failure)", "retrying": "\(retryAt != nil)",
        ])
    }

    /// The email of a notification.
    private func sendEmail(_ delivery: AlertDelivery, event: AlertEvent, rule: String) async throws {
        guard let smtp else { throw SMTPClient.Failure(description: "alerts.smtp.host is not set") }
        let subject = "[PyFlare] \(Self.headline(delivery.state)): \(rule)"
        var lines = [event.summary, ""]
        if let value = event.value { lines.append("Value: \(value)") }
        if let threshold = event.threshold { lines.append("Threshold: \(threshold)") }
        lines.append("Fired at: \(RFC3339.string(signed: event.fired))")
        if let end = event.resolved { lines.append("Resolved at: \(RFC3339.string(signed: end))") }
        lines += ["", "Open in PyFlare: \(publicURL)/\(event.link)"]
        let client = SMTPClient(host: smtp.host, port: smtp.port, security: smtp.security,
                                username: smtp.username, password: smtp.password, caFile: smtp.caFile)
        let recipients = AlertRule.Channel(kind: .email, url: delivery.target).recipients
        try await client.send(from: smtp.from, to: recipients, subject: subject, body: lines.joined(separator: "\n"))
    }

    /// How a notification starts: what happened to the event.
    static func headline(_ state: String) -> String {
        switch state {
        case "resolved": "Resolved"
        case "escalated": "Escalated"
        default: "Firing"
        }
    }

    /// The body a channel gets: PyFlare's JSON document, or Slack's incoming-webhook shape.
    func payload(_ delivery: AlertDelivery, event: AlertEvent, rule: String) -> [UInt8] {
        let link = publicURL + "/" + event.link
        var json = JSONWriter()
        switch delivery.channel {
        case .webhook:
            json.raw("{")
            json.member("type", "alert")
            json.member("state", delivery.state)
            json.key("rule")
            json.raw("{")
            json.member("id", event.ruleID)
            json.member("name", rule)
            json.raw("}")
            json.key("event")
            json.raw("{")
            json.member("id", event.id)
            json.member("key", event.key)
            json.member("fired_at", time: event.fired)
            json.member("resolved_at", time: event.resolved)
            json.member("value", event.value)
            json.member("threshold", event.threshold)
            json.member("summary", event.summary)
            json.raw("}")
            json.member("link", link)
            json.raw("}")
        case .email:
            // Written by ``sendEmail``, not posted.
            break
        case .slack:
            let headline = "\(Self.headline(delivery.state)): \(rule)"
            let mark = switch delivery.state { case "resolved": "✅"; case "escalated": "⏫"; default: "🔥" }
            let text = "\(mark) *\(headline)*\n\(event.summary)\n<\(link)|Open in PyFlare>"
            json.raw("{")
            json.member("text", "\(headline): \(event.summary) \(link)")
            json.key("blocks")
            json.raw("[{")
            json.member("type", "section")
            json.key("text")
            json.raw("{")
            json.member("type", "mrkdwn")
            json.member("text", text)
            json.raw("}}]}")
        }
        return json.bytes
    }
}
