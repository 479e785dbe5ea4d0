/// A condition over what the jobs materialize, and where to say when it starts and ends.
public struct AlertRule: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// A measure of `rollup_1m` over a rolling window against a threshold.
        case metric
        /// An ongoing root-cause pattern (`rca_patterns`) of some types and severity; a firing
        /// pattern whose severity rises by ``AlertRule/escalationStep`` is announced again.
        case pattern
        /// A drift score (`drift_scores`) of a recent window at some severities.
        case drift
        /// A budget (`budgets`, spent from `cost_by_dimension_1h`) past a fraction of its limit.
        case budget
    }

    /// The rule the server keeps for `budgets.webhook_url`.
    public static let budgetWebhookRuleName = "budgets.webhook_url"

    /// How much a firing pattern's severity must rise past the last announced one to be announced again.
    public static let escalationStep = 0.1
    /// The dimensions a drift rule may keep to one value.
    public static let driftFilterDimensions = ["feature", "scope"]
    public static let driftSeverities = ["moderate", "significant"]

    /// A drift rule's severities: kept where a pattern rule keeps its types.
    public var severities: [String] { patternTypes }

    /// What a metric rule measures over its window.
    public enum Metric: String, Sendable, CaseIterable {
        case errorRate = "error_rate"
        case p95LatencyMs = "p95_latency_ms"
        case costPerHour = "cost_per_hour"
        case unpricedCalls = "unpriced_calls"
        case requests

        /// Rates and quantiles of a handful of requests mean little: those wait for `minRequests`.
        var needsRequests: Bool { self == .errorRate || self == .p95LatencyMs }
    }

    public enum Comparison: String, Sendable, CaseIterable {
        case above = ">", atLeast = ">=", below = "<", atMost = "<="

        func holds(_ value: Double, _ threshold: Double) -> Bool {
            switch self {
            case .above: value > threshold
            case .atLeast: value >= threshold
            case .below: value < threshold
            case .atMost: value <= threshold
            }
        }
    }

    /// The columns of `rollup_1m` a metric rule may keep to one value.
    public static let filterDimensions = ["service", "model", "provider", "operation", "environment", "feature"]

    public struct Channel: Sendable, Equatable {
        public enum Kind: String, Sendable, CaseIterable {
            /// A JSON document (docs/alerts.md) POSTed to the URL.
            case webhook
            /// A Slack incoming-webhook payload (`text` and `blocks`).
            case slack
            /// A plain-text message over SMTP (`alerts.smtp.*`).
            case email
        }

        public var kind: Kind
        /// The URL, or for email the recipients separated by commas.
        public var url: String

        /// An email channel's recipients.
        public var recipients: [String] { url.split(separator: ",").map(String.init) }

        public init(kind: Kind, url: String) {
            self.kind = kind
            self.url = url
        }
    }

    public var id: Int64
    public var name: String
    public var kind: Kind
    public var metric: Metric?
    public var windowNanoseconds: Int64?
    public var comparison: Comparison?
    public var threshold: Double?
    public var minRequests: Int64?
    /// Dimension → value, for metric rules.
    public var filter: [(String, String)]
    /// Empty: every type.
    public var patternTypes: [String]
    public var minSeverity: Double?
    public var channels: [Channel]
    public var enabled: Bool
    public var silencedUntil: Int64?
    public var created: Int64
    public var updated: Int64

    public init(id: Int64 = 0, name: String, kind: Kind, metric: Metric? = nil, windowNanoseconds: Int64? = nil,
                comparison: Comparison? = nil, threshold: Double? = nil, minRequests: Int64? = nil,
                filter: [(String, String)] = [], patternTypes: [String] = [], minSeverity: Double? = nil,
                channels: [Channel], enabled: Bool = true, silencedUntil: Int64? = nil, created: Int64, updated: Int64) {
        self.id = id
        self.name = name
        self.kind = kind
        self.metric = metric
        self.windowNanoseconds = windowNanoseconds
        self.comparison = comparison
        self.threshold = threshold
        self.minRequests = minRequests
        self.filter = filter
        self.patternTypes = patternTypes
        self.minSeverity = minSeverity
        self.channels = channels
        self.enabled = enabled
        self.silencedUntil = silencedUntil
        self.created = created
        self.updated = updated
    }

    public func isSilenced(at now: Int64) -> Bool { silencedUntil.map { $0 > now } ?? false }

    public static func == (lhs: AlertRule, rhs: AlertRule) -> Bool {
        lhs.id == rhs.id && lhs.name == rhs.name && lhs.kind == rhs.kind && lhs.metric == rhs.metric
            && lhs.windowNanoseconds == rhs.windowNanoseconds && lhs.comparison == rhs.comparison
            && lhs.threshold == rhs.threshold && lhs.minRequests == rhs.minRequests
            && lhs.filter.elementsEqual(rhs.filter, by: ==) && lhs.patternTypes == rhs.patternTypes
            && lhs.minSeverity == rhs.minSeverity && lhs.channels == rhs.channels && lhs.enabled == rhs.enabled
            && lhs.silencedUntil == rhs.silencedUntil && lhs.created == rhs.created && lhs.updated == rhs.updated
    }
}

/// A firing of a rule: open until its condition ends.
public struct AlertEvent: Sendable {
    public var id: Int64
    public var ruleID: Int64
    /// What fired within the rule: "" for a metric rule, the pattern's id for a pattern rule.
    public var key: String
    public var fired: Int64
    public var resolved: Int64?
    public var value: Double?
    public var threshold: Double?
    public var summary: String
    /// The UI view that shows it (`#/…`), relative to `alerts.public_url`.
    public var link: String
    /// Fired while its rule was silenced: kept, not notified.
    public var silenced: Bool
    public var deliveries: [AlertDelivery] = []
}

/// One notification of an event to one channel.
public struct AlertDelivery: Sendable {
    public enum Status: String, Sendable { case pending, delivered, failed, silenced }

    public var id: Int64
    public var eventID: Int64
    /// `firing` or `resolved`.
    public var state: String
    public var channel: AlertRule.Channel.Kind
    public var target: String
    public var status: Status
    public var attempts: Int
    public var nextAttempt: Int64?
    public var lastError: String?
    public var delivered: Int64?
}
