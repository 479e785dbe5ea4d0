import Foundation

/// The first-class columns normalization derives, and the attribute keys each is read from.
enum NormalizedColumn: Int, CaseIterable {
    case model, responseModel, provider, operation, openInferenceKind, traceloopKind
    case inputTokens, outputTokens, cacheReadTokens, cacheWriteTokens, reasoningTokens, totalTokens
    case costMicros, costUSD, costPromptUSD, costCompletionUSD
    case user, session, feature, environment, service

    /// Attribute keys in order of precedence: the first present wins.
    var keys: [String] {
        switch self {
        case .model: ["gen_ai.request.model", "llm.model_name", "pyflare.model.id", "llm.request.model",
                      "gen_ai.response.model", "llm.response.model"]
        case .responseModel: ["gen_ai.response.model", "llm.response.model"]
        case .provider: ["gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system", "pyflare.model.provider"]
        case .operation: ["gen_ai.operation.name", "pyflare.inference.type", "llm.request.type"]
        case .openInferenceKind: ["openinference.span.kind"]
        case .traceloopKind: ["traceloop.span.kind"]
        case .inputTokens: ["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt",
                            "llm.usage.prompt_tokens", "pyflare.tokens.input", "pyflare.tokens.prompt"]
        case .outputTokens: ["gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion",
                             "llm.usage.completion_tokens", "pyflare.tokens.output", "pyflare.tokens.completion"]
        case .cacheReadTokens: ["gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens",
                                "llm.token_count.prompt_details.cache_read", "llm.usage.cache_read_input_tokens",
                                "pyflare.tokens.cache_read", "pyflare.tokens.cached"]
        case .cacheWriteTokens: ["gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens",
                                 "llm.token_count.prompt_details.cache_write", "llm.usage.cache_creation_input_tokens",
                                 "pyflare.tokens.cache_write"]
        case .reasoningTokens: ["gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens",
                                "llm.token_count.completion_details.reasoning", "llm.usage.reasoning_tokens",
                                "pyflare.tokens.reasoning"]
        case .totalTokens: ["gen_ai.usage.total_tokens", "llm.usage.total_tokens", "llm.token_count.total", "pyflare.tokens.total"]
        case .costMicros: ["pyflare.cost.micros"]
        case .costUSD: ["llm.cost.total", "gen_ai.usage.cost", "pyflare.cost.usd"]
        case .costPromptUSD: ["llm.cost.prompt"]
        case .costCompletionUSD: ["llm.cost.completion"]
        case .user: ["user.id", "enduser.id", "pyflare.user.id", "traceloop.association.properties.user_id", "langfuse.user.id"]
        case .session: ["session.id", "gen_ai.conversation.id", "pyflare.session.id", "traceloop.association.properties.session_id",
                        "langfuse.session.id"]
        case .feature: ["app.feature", "pyflare.feature", "traceloop.workflow.name"]
        case .environment: ["deployment.environment.name", "deployment.environment", "pyflare.environment"]
        case .service: ["service.name"]
        }
    }
}

/// Finds normalized columns among attribute keys: keys are bucketed by length, then compared bytewise.
struct AttributeKeyMatcher: Sendable {
    struct Rule: Sendable {
        var key: [UInt8]
        var column: NormalizedColumn.RawValue
        var rank: UInt8
    }

    private let rulesByLength: [[Rule]]

    init() {
        var byLength: [[Rule]] = []
        for column in NormalizedColumn.allCases {
            for (rank, key) in column.keys.enumerated() {
                let bytes = Array(key.utf8)
                while byLength.count <= bytes.count { byLength.append([]) }
                byLength[bytes.count].append(Rule(key: bytes, column: column.rawValue, rank: UInt8(rank)))
            }
        }
        rulesByLength = byLength
    }

    /// Calls `body` for each rule whose key equals `key`.
    @inline(__always)
    func forEachMatch(_ key: UnsafeRawBufferPointer, _ body: (Rule) -> Void) {
        guard key.count < rulesByLength.count else { return }
        for rule in rulesByLength[key.count] where rule.key.withUnsafeBytes({ memcmp($0.baseAddress!, key.baseAddress!, key.count) == 0 }) {
            body(rule)
        }
    }
}

/// Attribute keys normalization reads, for code that looks them up elsewhere (resources of logs and metric points).
public enum NormalizedKeys {
    /// `deployment.environment.name` and the keys that stand in for it, in order of precedence.
    public static var environment: [String] { NormalizedColumn.environment.keys }
}
