/// What kind of AI work a span records, unified across conventions.
public enum AIKind: UInt8, Sendable, CaseIterable {
    case none = 0
    case llm, embedding, chain, retriever, reranker, tool, agent, guardrail, evaluator, workflow, task

    public var name: String? {
        self == .none ? nil : "\(self)"
    }
}

/// Where a span's cost came from.
public enum CostSource: UInt8, Sendable {
    case none = 0
    /// The span carried its cost (`pyflare.cost.micros`, `llm.cost.total`, …).
    case span
    /// Computed from tokens and the pricing table.
    case pricing

    public var name: String? {
        switch self {
        case .none: nil
        case .span: "span"
        case .pricing: "pricing"
        }
    }
}
