/// Which spans to keep. Every strategy decides per trace, so a trace is kept or dropped whole.
public indirect enum SamplerConfiguration: Sendable, Equatable {
    case alwaysOn
    case alwaysOff
    /// Keeps `rate` (0…1) of traces, chosen by the FNV-1a hash of the trace id.
    case probabilistic(rate: Double)
    /// Keeps at most `tracesPerSecond` new traces per second (token bucket, burst of one second).
    case rateLimiting(tracesPerSecond: Double)
    /// Root spans are decided by `root`; the rest of the trace follows the decision made for it.
    case parentBased(root: SamplerConfiguration)
    /// A probabilistic rate per `service.name`, with a default for the others.
    case composite(defaultRate: Double, services: [String: Double])
    /// The first rule matching a span's attributes gives the rate; `defaultRate` otherwise.
    case attributeBased(defaultRate: Double, rules: [AttributeRule])

    public struct AttributeRule: Sendable, Equatable {
        public let key: String
        /// When set, the attribute's value (as text) must equal it; otherwise presence suffices.
        public let value: String?
        public let rate: Double
        /// `key` as bytes, compared with attribute keys in the arena without making Strings.
        let keyUTF8: [UInt8]

        public init(key: String, value: String? = nil, rate: Double) {
            self.key = key
            self.value = value
            self.rate = rate
            self.keyUTF8 = Array(key.utf8)
        }
    }

    /// The strategy's name, as in the config file and the metrics' `strategy` label.
    public var name: String {
        switch self {
        case .alwaysOn: "always_on"
        case .alwaysOff: "always_off"
        case .probabilistic: "probabilistic"
        case .rateLimiting: "rate_limiting"
        case .parentBased: "parent_based"
        case .composite: "composite"
        case .attributeBased: "attribute_based"
        }
    }

    public static let strategyNames = ["always_on", "always_off", "probabilistic", "rate_limiting", "parent_based", "composite", "attribute_based"]
}
