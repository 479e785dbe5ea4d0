/// What kind of AI work a span records, unified across conventions.
public enum AIKind: UInt8, Sendable, CaseIterable {
    case none = 0
    case llm, embedding, chain, retriever, reranker, tool, agent, guardrail, evaluator, workflow, task

    public var name: String? {
        self == .none ? nil : "\(self)"
    }

    /// From `openinference.span.kind` (upper case) or `traceloop.span.kind` (lower case).
    init(conventionName text: String) {
        self = Self.allCases.first { $0 != .none && "\($0)" == text.lowercased() } ?? .none
    }

    /// From `gen_ai.operation.name` and its equivalents.
    init(operation: String) {
        switch operation.lowercased() {
        case "chat", "text_completion", "generate_content", "completion", "responses": self = .llm
        case "embeddings", "embedding": self = .embedding
        case "execute_tool": self = .tool
        case "invoke_agent", "create_agent": self = .agent
        case "retrieval", "retrieve", "search": self = .retriever
        case "rerank": self = .reranker
        default: self = .none
        }
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
