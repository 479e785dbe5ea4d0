import PyFlareModel
import PyFlareWire

/// The LLM-as-judge (`evaluations.judge.*` in the config): where the judge is, what it judges,
/// and what it may spend.
public struct JudgeSettings: Sendable, Equatable {
    /// An OpenAI-compatible base URL (`…/v1`) or the full `…/chat/completions` URL; the judge
    /// is off without one.
    public var endpoint: String?
    public var apiKey: String?
    public var model = "gpt-4o-mini"
    /// The share of eligible spans judged, chosen by span id (so a span is in or out for good).
    public var sampleRate = 0.1
    public var services: [String] = []
    public var models: [String] = []
    public var operations: [String] = []
    public var evaluators: [Evaluator] = [Evaluator(name: "hallucination", kind: .hallucination)]
    public var timeoutSeconds = 30.0
    public var attempts = 3
    public var firstBackoffSeconds = 1.0
    /// Judge spend per UTC day; once reached, judging waits for the next day. 0 means no cap.
    public var maxDailySpendUSD = 1.0
    /// Calls per run, so one run cannot hold the scheduler for long.
    public var maxCallsPerRun = 50
    /// The service the judge's own calls are traced under.
    public var serviceName = "pyflare-judge"

    public init() {}

    public var enabled: Bool { endpoint?.isEmpty == false }

    public var chatCompletionsURL: String? {
        guard let endpoint, !endpoint.isEmpty else { return nil }
        let trimmed = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        return trimmed.hasSuffix("/chat/completions") ? trimmed : trimmed + "/chat/completions"
    }

    public struct Evaluator: Sendable, Equatable {
        public enum Kind: String, Sendable, CaseIterable {
            /// Is the output supported by its input and retrieved context?
            case hallucination
            /// Does the output agree with a reference answer (an attribute of the span)?
            case reference
            /// Is the output at least as good as a baseline output (an attribute of the span)?
            case pairwise
        }

        /// The evaluation's name in `evaluations` (and the API).
        public var name: String
        public var kind: Kind
        /// The prompt, with `{{input}}`, `{{context}}`, `{{output}}`, `{{reference}}`, `{{baseline}}`; nil for the default of its kind.
        public var template: String?
        /// Where the reference answer (`reference`) or the baseline output (`pairwise`) is.
        public var attribute: String?

        public init(name: String, kind: Kind, template: String? = nil, attribute: String? = nil) {
            self.name = name
            self.kind = kind
            self.template = template
            self.attribute = attribute
        }

        var prompt: String {
            template ?? {
                switch kind {
                case .hallucination: JudgeTemplates.hallucination
                case .reference: JudgeTemplates.reference
                case .pairwise: JudgeTemplates.pairwise
                }
            }()
        }

        var defaultAttribute: String? {
            switch kind {
            case .hallucination: nil
            case .reference: attribute ?? "pyflare.reference.output"
            case .pairwise: attribute ?? "pyflare.baseline.output"
            }
        }
    }

    /// Whether an LLM span is judged: not the judge's own, through the filters, and in the sample.
    func selects(spanID: String, service: String?, model: String?, operation: String?) -> Bool {
        service != serviceName && sampled(spanID)
            && (services.isEmpty || services.contains(service ?? ""))
            && (models.isEmpty || models.contains(model ?? ""))
            && (operations.isEmpty || operations.contains(operation ?? ""))
    }

    /// Whether a span id falls in the sample: its FNV fingerprint against the rate.
    func sampled(_ spanID: String) -> Bool {
        guard sampleRate < 1 else { return true }
        guard sampleRate > 0 else { return false }
        let hash = fingerprint(spanID)
        return Double(UInt64(hash, radix: 16).map { $0 >> 11 } ?? 0) / Double(1 << 53) < sampleRate
    }
}
