import Foundation
import GRDB
import Logging
import PyFlareModel
import PyFlareStore
import PyFlareSQL
import PyFlareTesting
import PyFlareWire
import Testing
@testable import PyFlareAnalytics

/// The alerts job on a real index: a pattern rule opens one event per matching ongoing
/// pattern, keeps it open while the pattern lasts, resolves it when the pattern ends, and a
/// silenced rule's firing is kept without a notification queued.
struct AlertJobTests {
    func context(_ store: SpanStore, now: Int64) -> JobContext {
        JobContext(pool: store.indexPool, engine: store.sqlEngine(limits: SQLLimits()), now: now,
                   settings: SchedulerSettings(), logger: Logger(label: "test"))
    }

    func pattern(_ id: String, type: String, severity: Double, end: Int64?, _ db: Database) throws {
        try db.execute(sql: """
            INSERT OR REPLACE INTO rca_patterns (id, type, scope, service, model, start_ns, end_ns, severity, description, evidence,
                                                 suggested_actions, first_detected_ns, last_detected_ns)
            VALUES (?, ?, '{"service":"checkout"}', 'checkout', NULL, ?, ?, ?, 'errors rose', '{}', '[]', ?, ?)
            """, arguments: [id, type, baseTimeNanoseconds, end, severity, baseTimeNanoseconds, baseTimeNanoseconds])
    }

    var baseTimeNanoseconds: Int64 { Int64(baseTime) }

    func openStore(_ directory: TemporaryDirectory) async throws -> SpanStore {
        try await SpanStore.open(configuration: SpanStoreConfiguration(dataDirectory: directory.path, walSync: .never),
                                 pricing: .builtIn(), logger: Logger(label: "test"))
    }

    @Test func aPatternRuleFollowsItsPatterns() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try await openStore(directory)
        let book = AlertBook(pool: store.indexPool)
        let now = baseTimeNanoseconds + UnixTime.hour
        let rule = try await book.create(AlertRule(name: "spikes", kind: .pattern, patternTypes: ["error_spike"], minSeverity: 0.5,
                                                   channels: [.init(kind: .webhook, url: "http://127.0.0.1:9/")], created: now, updated: now))
        try await store.indexPool.write { db in
            try pattern("p1", type: "error_spike", severity: 0.9, end: nil, db)
            try pattern("p2", type: "error_spike", severity: 0.2, end: nil, db)       // below the rule's severity
            try pattern("p3", type: "cost_anomaly", severity: 0.9, end: nil, db)      // another type
        }
        let job = AlertJob(dispatcher: nil)
        #expect(try await job.run(context(store, now: now)).rows == 1)
        var events = try await book.events(rule: rule.id)
        #expect(events.map(\.key) == ["p1"] && events[0].resolved == nil && events[0].value == 0.9)
        #expect(events[0].deliveries.map(\.status) == [.pending] && events[0].deliveries[0].state == "firing")

        // still ongoing: nothing new
        #expect(try await job.run(context(store, now: now + UnixTime.minute)).rows == 0)
        // ended: resolved, with a resolution queued
        try await store.indexPool.write { db in try pattern("p1", type: "error_spike", severity: 0.9, end: now, db) }
        #expect(try await job.run(context(store, now: now + 2 * UnixTime.minute)).rows == 1)
        events = try await book.events(rule: rule.id)
        #expect(events.count == 1 && events[0].resolved == now + 2 * UnixTime.minute)
        #expect(events[0].deliveries.map(\.state) == ["firing", "resolved"])

        // silenced: the next firing is kept, its notification marked silenced
        #expect(try await book.silence(rule.id, until: now + UnixTime.day, now: now))
        try await store.indexPool.write { db in try pattern("p4", type: "error_spike", severity: 0.7, end: nil, db) }
        _ = try await job.run(context(store, now: now + 3 * UnixTime.minute))
        let silenced = try await book.events(rule: rule.id, openOnly: true)
        #expect(silenced.map(\.key) == ["p4"] && silenced[0].silenced)
        #expect(silenced[0].deliveries.map(\.status) == [.silenced])
        try await store.close()
    }

    /// A firing pattern whose severity rises a step is announced again (once per step), with
    /// the new summary; a smaller rise only moves the value.
    @Test func aRisingPatternEscalatesOncePerStep() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try await openStore(directory)
        let book = AlertBook(pool: store.indexPool)
        let now = baseTimeNanoseconds + UnixTime.hour
        let rule = try await book.create(AlertRule(name: "spikes", kind: .pattern, minSeverity: 0.3,
                                                   channels: [.init(kind: .webhook, url: "http://127.0.0.1:9/")], created: now, updated: now))
        let job = AlertJob(dispatcher: nil)
        for (minute, severity) in [(0, 0.4), (1, 0.45), (2, 0.55), (3, 0.6), (4, 0.9)] {
            try await store.indexPool.write { db in try pattern("p1", type: "error_spike", severity: severity, end: nil, db) }
            _ = try await job.run(context(store, now: now + Int64(minute) * UnixTime.minute))
        }
        let events = try await book.events(rule: rule.id)
        #expect(events.count == 1 && events[0].value == 0.9)
        #expect(events[0].deliveries.map(\.state) == ["firing", "escalated", "escalated"])
        #expect(events[0].summary.contains("severity 0.90"))
        try await store.close()
    }

    /// A budget rule fires for the budgets past its fraction of their limit, and resolves once
    /// the limit is raised above the spend.
    @Test func aBudgetRuleFollowsTheSpend() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try await openStore(directory)
        let alerts = AlertBook(pool: store.indexPool)
        let budgets = BudgetBook(pool: store.indexPool)
        let now = baseTimeNanoseconds + UnixTime.hour
        var budget = try await budgets.create(Budget(dimension: .user, value: "dana", period: .daily, limitMicros: 1_000_000,
                                                     alertThresholds: [1], createdAt: now))
        let other = try await budgets.create(Budget(dimension: .user, value: "eve", period: .daily, limitMicros: 1_000_000,
                                                    alertThresholds: [1], createdAt: now))
        try await store.indexPool.write { db in
            for (user, cost) in [("dana", 900_000), ("eve", 2_000_000)] {
                try db.execute(sql: """
                    INSERT INTO cost_by_dimension_1h (dimension, key, bucket_ns, requests, input_tokens, output_tokens, cached_tokens,
                                                      reasoning_tokens, cost_micros, unpriced_requests) VALUES ('user', ?, ?, 1, 0, 0, 0, 0, ?, 0)
                    """,
                               arguments: [user, now / UnixTime.hour * UnixTime.hour, cost])
            }
        }
        let rule = try await alerts.create(AlertRule(name: "dana's budget", kind: .budget, threshold: 0.8,
                                                     filter: [("budget", "\(budget.id)")], channels: [], created: now, updated: now))
        let job = AlertJob(dispatcher: nil)
        _ = try await job.run(context(store, now: now))
        var events = try await alerts.events(rule: rule.id)
        #expect(events.count == 1 && events[0].value == 0.9 && events[0].resolved == nil, "eve's budget is not this rule's")
        #expect(events[0].summary.contains("spent $0.90 of $1.00 (90%)") && events[0].link == "#/costs?budget=\(budget.id)")
        _ = other
        budget.limitMicros = 2_000_000
        #expect(try await budgets.update(budget))
        _ = try await job.run(context(store, now: now + UnixTime.minute))
        events = try await alerts.events(rule: rule.id)
        #expect(events.count == 1 && events[0].resolved != nil)
        try await store.close()
    }

    /// A budget rule without a fraction of its own fires once per threshold of each budget
    /// reached (what `budgets.webhook_url` announces), each event holding its threshold.
    @Test func aBudgetRuleWithoutAFractionFollowsEachBudgetsThresholds() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try await openStore(directory)
        let alerts = AlertBook(pool: store.indexPool)
        let now = baseTimeNanoseconds + UnixTime.hour
        let budget = try await BudgetBook(pool: store.indexPool).create(Budget(dimension: .global, value: nil, period: .daily,
            limitMicros: 1_000_000, alertThresholds: [0.5, 0.8, 1], createdAt: now))
        try await store.indexPool.write { db in
            try db.execute(sql: """
                INSERT INTO cost_by_dimension_1h (dimension, key, bucket_ns, requests, input_tokens, output_tokens, cached_tokens,
                                                  reasoning_tokens, cost_micros, unpriced_requests) VALUES ('model', 'gpt-4o', ?, 1, 0, 0, 0, 0, 850000, 0)
                """, arguments: [now / UnixTime.hour * UnixTime.hour])
        }
        let rule = try await alerts.create(AlertRule(name: "budgets", kind: .budget, channels: [], created: now, updated: now))
        _ = try await AlertJob(dispatcher: nil).run(context(store, now: now))
        let events = try await alerts.events(rule: rule.id)
        #expect(events.map(\.threshold).sorted { ($0 ?? 0) < ($1 ?? 0) } == [0.5, 0.8], "1.0 is not reached at 85%")
        #expect(events.allSatisfy { $0.summary.contains("budget \(budget.id) (all spend, daily) spent $0.85 of $1.00 (85%)") })
        try await store.close()
    }

    /// The rule a configuration option stands for is created, replaced in place (keeping its
    /// id and an operator's silence), left alone when unchanged, and removed with the option.
    @Test func aConfiguredRuleFollowsItsOption() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try await openStore(directory)
        let alerts = AlertBook(pool: store.indexPool)
        let name = AlertRule.budgetWebhookRuleName
        func configured(_ url: String, at time: Int64) -> AlertRule {
            AlertRule(name: name, kind: .budget, channels: [.init(kind: .webhook, url: url)], created: time, updated: time)
        }
        try await alerts.configure(configured("http://a.example/hook", at: 1), named: name)
        let created = try #require(try await alerts.rules().first)
        #expect(try await alerts.silence(created.id, until: 99, now: 2))
        try await alerts.configure(configured("http://a.example/hook", at: 3), named: name)
        #expect(try await alerts.rules().first?.updated == 2, "unchanged: not rewritten")
        try await alerts.configure(configured("http://b.example/hook", at: 4), named: name)
        let replaced = try await alerts.rules()
        #expect(replaced.count == 1 && replaced[0].id == created.id && replaced[0].silencedUntil == 99 && replaced[0].created == 1)
        #expect(replaced[0].channels == [.init(kind: .webhook, url: "http://b.example/hook")] && replaced[0].updated == 4)
        try await alerts.configure(nil, named: name)
        #expect(try await alerts.rules().isEmpty)
        try await store.close()
    }

    @Test func comparisonsAndFormats() {
        #expect(AlertRule.Comparison.above.holds(0.5, 0.2) && !AlertRule.Comparison.above.holds(0.2, 0.2))
        #expect(AlertRule.Comparison.atLeast.holds(0.2, 0.2) && AlertRule.Comparison.below.holds(1, 2))
        #expect(AlertJob.format(0.25, .errorRate) == "25.0%" && AlertJob.format(1234.4, .p95LatencyMs) == "1234 ms")
        #expect(AlertJob.link(.errorRate, filter: [("service", "a b&c"), ("provider", "x")], since: 0)
            == "#/traces?service=a%20b%26c&status=error&since=1970-01-01T00:00:00.000Z")
    }
}

/// The email an alert sends: lines end in CRLF, a line starting with a dot is doubled so it
/// cannot end the message, and a subject never breaks the header block.
struct SMTPMessageTests {
    @Test func messagesAreDotStuffedAndHeadersStayOneLine() {
        let message = SMTPClient.message(from: "a@x", to: ["b@y", "c@z"], subject: "Firing:\r\nBcc: evil@x",
                                         body: "first\n.second\n..third")
        #expect(message.hasPrefix("From: a@x\r\nTo: b@y, c@z\r\nSubject: Firing:  Bcc: evil@x\r\n"))
        #expect(message.hasSuffix("\r\n\r\nfirst\r\n..second\r\n...third\r\n.\r\n"))
        #expect(SMTPClient.headerText("Dépassé") == "=?utf-8?B?RMOpcGFzc8Op?=")
    }
}

/// Delivery errors as the API shows them: the reason, never a library's source path.
struct DeliveryErrorTextTests {
    @Test func reasonsWithoutPaths() {
        let boring = "sslError([Error: 268435581 error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED at "
            + "/work/main/.build/checkouts/swift-nio-ssl/Sources/CNIOBoringSSL/ssl/handshake.cc:320])"
        #expect(DeliveryErrorText.reasonCodes(in: boring) == ["CERTIFICATE_VERIFY_FAILED"])
        #expect(DeliveryErrorText.withoutPaths(boring) == "sslError([Error: 268435581 error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED])")
        #expect(DeliveryErrorText.withoutPaths("cannot read /etc/pyflare/ca.pem: no such file") == "cannot read …: no such file")
        #expect(DeliveryErrorText.withoutPaths("connect to https://hooks.example.com/a/b refused") == "connect to https://hooks.example.com/a/b refused")
    }
}

