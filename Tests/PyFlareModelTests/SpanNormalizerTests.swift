import PyFlareModel
import PyFlareTesting
import PyFlareWire
import Testing

typealias Attributes = [(String, AttributeValue)]

/// One span's normalized columns, strings resolved ("" → nil).
struct Normalized {
    var service, model, responseModel, provider, operation: String?
    var kind: AIKind
    var input, output, cacheRead, cacheWrite, reasoning, total: Int64?
    var cost: Int64?
    var costSource: CostSource
    var priceModel: String?
    var user, session, feature, environment: String?

    init(_ batch: NormalizedBatch, span: Int) {
        let columns = batch.columns
        func text(_ ref: StringRef) -> String? { ref.isEmpty ? nil : batch.spans.string(ref) }
        service = text(columns.service[span])
        model = text(columns.model[span])
        responseModel = text(columns.responseModel[span])
        provider = text(columns.provider[span])
        operation = text(columns.operation[span])
        kind = columns.kind[span]
        input = columns.inputTokens[span]
        output = columns.outputTokens[span]
        cacheRead = columns.cacheReadTokens[span]
        cacheWrite = columns.cacheWriteTokens[span]
        reasoning = columns.reasoningTokens[span]
        total = columns.totalTokens[span]
        cost = columns.costMicros[span]
        costSource = columns.costSource[span]
        priceModel = columns.priceModel(span)
        user = text(columns.user[span])
        session = text(columns.session[span])
        feature = text(columns.feature[span])
        environment = text(columns.environment[span])
    }
}

let defaultResource: Attributes = [("service.name", .string("svc"))]

/// Encodes `spans` with ``OTLPPayloadBuilder``, decodes them with `decodeProtobuf` and normalizes them.
/// Results come back in the order given (the builder groups spans by resource).
func normalize(_ spans: [(attributes: Attributes, resource: Attributes)],
               normalizer: SpanNormalizer = SpanNormalizer()) throws -> (batch: NormalizedBatch, spans: [Normalized]) {
    var builder = OTLPPayloadBuilder()
    var random = SeededGenerator(seed: 11)
    for (index, span) in spans.enumerated() {
        var built = OTLPPayloadBuilder.Span(traceID: random.traceID(), spanID: UInt64(index + 1))
        built.name = "span-\(index)"
        built.attributes = span.attributes
        builder.add(built, resource: span.resource)
    }
    let decoded = try SpanBatch.decodeProtobuf(builder.payload())
    try #require(decoded.count == spans.count)
    let normalized = normalizer.normalize(decoded)
    #expect(normalized.count == spans.count)
    let columns = normalized.columns
    let counts: [Int] = [columns.service.count, columns.model.count, columns.responseModel.count, columns.provider.count,
                   columns.operation.count, columns.kind.count, columns.inputTokens.count, columns.outputTokens.count,
                   columns.cacheReadTokens.count, columns.cacheWriteTokens.count, columns.reasoningTokens.count,
                   columns.totalTokens.count, columns.costMicros.count, columns.costSource.count, columns.priceIndex.count,
                   columns.user.count, columns.session.count, columns.feature.count, columns.environment.count]
    #expect(counts.allSatisfy { $0 == spans.count })
    var order: [Int] = []
    for index in 0..<spans.count {
        order.append(try #require((0..<decoded.count).first { decoded.string(decoded.names[$0]) == "span-\(index)" }))
    }
    return (normalized, order.map { Normalized(normalized, span: $0) })
}

func normalizeOne(_ attributes: Attributes, resource: Attributes = defaultResource,
                  normalizer: SpanNormalizer = SpanNormalizer()) throws -> Normalized {
    try normalize([(attributes, resource)], normalizer: normalizer).spans[0]
}

let pricing = PricingTable.builtIn()

/// The name of the built-in price `model` resolves to (a stored span keeps that name).
func priceModel(_ model: String) throws -> String? {
    pricing.entries[try #require(pricing.index(for: model), "\(model) is not priced")].model
}

func expectedCost(_ model: String, _ usage: TokenUsage) throws -> Int64 {
    try #require(pricing.price(for: model)).costMicros(usage)
}

@Suite("Span normalization")
struct SpanNormalizerTests {
    // MARK: OTel GenAI

    @Test("OTel GenAI, current names")
    func genAICurrent() throws {
        let span = try normalizeOne([
            ("gen_ai.operation.name", .string("chat")),
            ("gen_ai.provider.name", .string("openai")),
            ("gen_ai.request.model", .string("gpt-4o")),
            ("gen_ai.response.model", .string("gpt-4o-2024-08-06")),
            ("gen_ai.usage.input_tokens", .int(2000)),
            ("gen_ai.usage.output_tokens", .int(100)),
            ("gen_ai.usage.cache_read.input_tokens", .int(1000)),
            ("gen_ai.usage.reasoning.output_tokens", .int(40)),
        ])
        #expect(span.provider == "openai")
        #expect(span.model == "gpt-4o")
        #expect(span.responseModel == "gpt-4o-2024-08-06")
        #expect(span.operation == "chat")
        #expect(span.kind == .llm)
        #expect(span.kind.name == "llm")
        #expect(span.input == 2000)
        #expect(span.output == 100)
        #expect(span.cacheRead == 1000)
        #expect(span.cacheWrite == nil)
        #expect(span.reasoning == 40)
        #expect(span.total == 2100)
        // 1000 × 2.50 + 1000 × 1.25 + 100 × 10.00
        #expect(span.cost == 4750)
        #expect(span.costSource == .pricing)
        #expect(span.costSource.name == "pricing")
        #expect(span.priceModel == (try priceModel("gpt-4o")))
        #expect(span.service == "svc")
    }

    @Test("OTel GenAI cache creation tokens (current name)")
    func genAICacheCreation() throws {
        let span = try normalizeOne([
            ("gen_ai.provider.name", .string("anthropic")),
            ("gen_ai.request.model", .string("claude-3-5-sonnet-20241022")),
            ("gen_ai.usage.input_tokens", .int(1000)),
            ("gen_ai.usage.output_tokens", .int(100)),
            ("gen_ai.usage.cache_read.input_tokens", .int(300)),
            ("gen_ai.usage.cache_creation.input_tokens", .int(200)),
        ])
        #expect(span.cacheRead == 300)
        #expect(span.cacheWrite == 200)
        // 500 × 3 + 300 × 0.30 + 200 × 3.75 + 100 × 15
        #expect(span.cost == 3840)
        #expect(span.priceModel == (try priceModel("claude-3-5-sonnet")))
    }

    @Test("OTel GenAI, deprecated names")
    func genAIDeprecated() throws {
        let span = try normalizeOne([
            ("gen_ai.system", .string("anthropic")),
            ("gen_ai.request.model", .string("claude-3-5-sonnet-20241022")),
            ("gen_ai.usage.prompt_tokens", .int(1000)),
            ("gen_ai.usage.completion_tokens", .int(100)),
            ("gen_ai.usage.cache_read_input_tokens", .int(300)),
            ("gen_ai.usage.cache_creation_input_tokens", .int(200)),
            ("gen_ai.usage.reasoning_tokens", .int(12)),
        ])
        #expect(span.provider == "anthropic")
        #expect(span.input == 1000)
        #expect(span.output == 100)
        #expect(span.cacheRead == 300)
        #expect(span.cacheWrite == 200)
        #expect(span.reasoning == 12)
        #expect(span.total == 1100)
        #expect(span.cost == 3840)
        #expect(span.costSource == .pricing)
    }

    @Test("When old and new names are both present the new one wins, whatever the wire order", arguments: [false, true])
    func newNamesWin(newFirst: Bool) throws {
        let old: Attributes = [
            ("gen_ai.system", .string("old-provider")),
            ("gen_ai.usage.prompt_tokens", .int(1)),
            ("gen_ai.usage.completion_tokens", .int(3)),
            ("gen_ai.usage.cache_read_input_tokens", .int(5)),
            ("gen_ai.usage.cache_creation_input_tokens", .int(7)),
            ("gen_ai.usage.reasoning_tokens", .int(9)),
        ]
        let new: Attributes = [
            ("gen_ai.provider.name", .string("new-provider")),
            ("gen_ai.usage.input_tokens", .int(2000)),
            ("gen_ai.usage.output_tokens", .int(4)),
            ("gen_ai.usage.cache_read.input_tokens", .int(6)),
            ("gen_ai.usage.cache_creation.input_tokens", .int(8)),
            ("gen_ai.usage.reasoning.output_tokens", .int(10)),
        ]
        let span = try normalizeOne([("gen_ai.request.model", .string("gpt-4o"))] + (newFirst ? new + old : old + new))
        #expect(span.provider == "new-provider")
        #expect(span.input == 2000)
        #expect(span.output == 4)
        #expect(span.cacheRead == 6)
        #expect(span.cacheWrite == 8)
        #expect(span.reasoning == 10)
        #expect(span.total == 2004)
        #expect(span.cost == (try expectedCost("gpt-4o", TokenUsage(input: 2000, output: 4, cacheRead: 6, cacheWrite: 8))))
    }

    // MARK: OpenInference

    @Test("OpenInference attributes")
    func openInference() throws {
        let span = try normalizeOne([
            ("openinference.span.kind", .string("LLM")),
            ("llm.model_name", .string("gpt-4o-mini")),
            ("llm.provider", .string("openai")),
            ("llm.token_count.prompt", .int(1000)),
            ("llm.token_count.completion", .int(200)),
            ("llm.token_count.total", .int(1300)),
            ("llm.token_count.prompt_details.cache_read", .int(500)),
            ("llm.cost.total", .double(0.001234)),
            ("session.id", .string("sess-1")),
            ("user.id", .string("user-1")),
        ])
        #expect(span.kind == .llm)
        #expect(span.kind.name == "llm")
        #expect(span.model == "gpt-4o-mini")
        #expect(span.provider == "openai")
        #expect(span.input == 1000)
        #expect(span.output == 200)
        #expect(span.total == 1300)  // given, not recomputed
        #expect(span.cacheRead == 500)
        #expect(span.cost == 1234)  // USD → micro-dollars
        #expect(span.costSource == .span)
        #expect(span.costSource.name == "span")
        #expect(span.priceModel == nil)
        #expect(span.session == "sess-1")
        #expect(span.user == "user-1")
    }

    @Test("OpenInference without a cost is priced, cache reads included")
    func openInferencePriced() throws {
        let span = try normalizeOne([
            ("llm.model_name", .string("gpt-4o-mini")),
            ("llm.token_count.prompt", .int(1000)),
            ("llm.token_count.completion", .int(200)),
            ("llm.token_count.prompt_details.cache_read", .int(500)),
        ])
        #expect(span.kind == .llm)  // a model and nothing else says so
        #expect(span.cost == (try expectedCost("gpt-4o-mini", TokenUsage(input: 1000, output: 200, cacheRead: 500))))
        #expect(span.cost == 233)  // 500 × 0.15 + 500 × 0.075 + 200 × 0.60 = 232.5
        #expect(span.costSource == .pricing)
        #expect(span.total == 1200)
    }

    @Test("OpenInference span kinds", arguments: [
        ("LLM", AIKind.llm), ("CHAIN", .chain), ("EMBEDDING", .embedding), ("RETRIEVER", .retriever), ("RERANKER", .reranker),
        ("TOOL", .tool), ("AGENT", .agent), ("GUARDRAIL", .guardrail), ("EVALUATOR", .evaluator), ("UNKNOWN", .none),
    ])
    func openInferenceKinds(name: String, kind: AIKind) throws {
        let span = try normalizeOne([("openinference.span.kind", .string(name))])
        #expect(span.kind == kind)
        #expect(span.kind.name == (kind == .none ? nil : name.lowercased()))
    }

    @Test("Langfuse's own user and session attributes")
    func langfuseUserAndSession() throws {
        let span = try normalizeOne([("langfuse.user.id", .string("u-7")), ("langfuse.session.id", .string("chat-7"))])
        #expect(span.user == "u-7")
        #expect(span.session == "chat-7")
        let both = try normalizeOne([("session.id", .string("s-1")), ("langfuse.session.id", .string("chat-7"))])
        #expect(both.session == "s-1", "the OpenTelemetry key comes first")
    }

    // MARK: OpenLLMetry

    @Test("OpenLLMetry (Traceloop) attributes")
    func openLLMetry() throws {
        let span = try normalizeOne([
            ("traceloop.span.kind", .string("workflow")),
            ("traceloop.workflow.name", .string("support-flow")),
            ("traceloop.association.properties.user_id", .string("user-9")),
            ("traceloop.association.properties.session_id", .string("sess-9")),
            ("llm.request.type", .string("chat")),
            ("gen_ai.system", .string("OpenAI")),
            ("gen_ai.request.model", .string("gpt-4o")),
            ("gen_ai.usage.prompt_tokens", .int(600)),
            ("gen_ai.usage.completion_tokens", .int(300)),
            ("llm.usage.total_tokens", .int(999)),
        ])
        #expect(span.kind == .workflow)
        #expect(span.kind.name == "workflow")
        #expect(span.feature == "support-flow")
        #expect(span.user == "user-9")
        #expect(span.session == "sess-9")
        #expect(span.operation == "chat")
        #expect(span.provider == "OpenAI")
        #expect(span.total == 999)
        #expect(span.cost == 4500)  // 600 × 2.5 + 300 × 10
    }

    @Test("OpenLLMetry request type gives the kind when no span kind is set")
    func openLLMetryRequestType() throws {
        let chat = try normalizeOne([("llm.request.type", .string("chat"))])
        #expect(chat.kind == .llm)
        #expect(chat.operation == "chat")
        let embedding = try normalizeOne([("llm.request.type", .string("embedding")), ("llm.usage.total_tokens", .int(5))])
        #expect(embedding.kind == .embedding)
        #expect(embedding.total == 5)
        #expect(try normalizeOne([("traceloop.span.kind", .string("task"))]).kind == .task)
        #expect(try normalizeOne([("traceloop.span.kind", .string("tool"))]).kind == .tool)
        #expect(try normalizeOne([("traceloop.span.kind", .string("agent"))]).kind == .agent)
    }

    @Test("Kind precedence: OpenInference, then Traceloop, then the operation, then a model")
    func kindPrecedence() throws {
        #expect(try normalizeOne([("openinference.span.kind", .string("CHAIN")), ("traceloop.span.kind", .string("tool")),
                                  ("gen_ai.operation.name", .string("chat"))]).kind == .chain)
        #expect(try normalizeOne([("traceloop.span.kind", .string("tool")), ("gen_ai.operation.name", .string("chat"))]).kind == .tool)
        #expect(try normalizeOne([("gen_ai.operation.name", .string("embeddings")), ("gen_ai.request.model", .string("x"))]).kind == .embedding)
        #expect(try normalizeOne([("gen_ai.operation.name", .string("execute_tool"))]).kind == .tool)
        #expect(try normalizeOne([("gen_ai.operation.name", .string("invoke_agent"))]).kind == .agent)
        #expect(try normalizeOne([("gen_ai.operation.name", .string("something_new")), ("gen_ai.request.model", .string("x"))]).kind == .llm)
        #expect(try normalizeOne([("gen_ai.request.model", .string("x"))]).kind == .llm)
    }

    // MARK: pyflare.*

    @Test("pyflare.* attributes; pyflare.cost.micros is the span's own cost")
    func pyflareAttributes() throws {
        let span = try normalizeOne([
            ("pyflare.model.id", .string("gpt-4o")),
            ("pyflare.model.provider", .string("openai")),
            ("pyflare.inference.type", .string("chat")),
            ("pyflare.tokens.input", .int(2000)),
            ("pyflare.tokens.output", .int(100)),
            ("pyflare.cost.micros", .int(777)),
        ])
        #expect(span.model == "gpt-4o")
        #expect(span.provider == "openai")
        #expect(span.operation == "chat")
        #expect(span.kind == .llm)
        #expect(span.input == 2000)
        #expect(span.output == 100)
        #expect(span.total == 2100)
        #expect(span.cost == 777)
        #expect(span.costSource == .span)
        #expect(span.priceModel == nil)
    }

    @Test("pyflare.* without a cost is priced")
    func pyflarePriced() throws {
        let span = try normalizeOne([
            ("pyflare.model.id", .string("gpt-4o")),
            ("pyflare.tokens.input", .int(2000)),
            ("pyflare.tokens.output", .int(100)),
        ])
        #expect(span.cost == 6000)
        #expect(span.costSource == .pricing)
    }

    @Test("Span costs in other forms: USD as a string, prompt + completion, micros as a double")
    func spanCostForms() throws {
        #expect(try normalizeOne([("llm.cost.total", .string("0.5"))]).cost == 500_000)
        let split = try normalizeOne([("llm.cost.prompt", .double(0.001)), ("llm.cost.completion", .double(0.002)),
                                      ("gen_ai.request.model", .string("gpt-4o")), ("gen_ai.usage.input_tokens", .int(10))])
        #expect(split.cost == 3000)
        #expect(split.costSource == .span)
        #expect(try normalizeOne([("pyflare.cost.micros", .double(12.4))]).cost == 12)
        // micros beat USD.
        #expect(try normalizeOne([("llm.cost.total", .double(1)), ("pyflare.cost.micros", .int(5))]).cost == 5)
        // A zero cost reported by the span is a cost, not an absence.
        let free = try normalizeOne([("pyflare.cost.micros", .int(0))])
        #expect(free.cost == 0)
        #expect(free.costSource == .span)
    }

    // MARK: Resource attributes

    @Test("Environment from deployment.environment.name, else the older deployment.environment")
    func environment() throws {
        #expect(try normalizeOne([], resource: [("deployment.environment.name", .string("production"))]).environment == "production")
        #expect(try normalizeOne([], resource: [("deployment.environment", .string("staging"))]).environment == "staging")
        #expect(try normalizeOne([], resource: [("deployment.environment", .string("old")),
                                                ("deployment.environment.name", .string("new"))]).environment == "new")
        #expect(try normalizeOne([], resource: [("pyflare.environment", .string("dev"))]).environment == "dev")
        #expect(try normalizeOne([], resource: []).environment == nil)
    }

    @Test("Service from the resource's service.name")
    func service() throws {
        let spans = try normalize([
            ([], [("service.name", .string("checkout")), ("deployment.environment.name", .string("production"))]),
            ([], [("service.name", .string("billing"))]),
            ([], [("host.name", .string("h"))]),
            ([], [("service.name", .string("checkout")), ("deployment.environment.name", .string("production"))]),
        ]).spans
        #expect(spans.map(\.service) == ["checkout", "billing", nil, "checkout"])
        #expect(spans.map(\.environment) == ["production", nil, nil, "production"])
    }

    @Test("A span attribute beats a resource attribute, even of a lower-precedence name")
    func spanBeatsResource() throws {
        let span = try normalizeOne([
            ("deployment.environment", .string("canary")),
            ("enduser.id", .string("span-user")),
            ("service.name", .string("span-service")),
        ], resource: [
            ("service.name", .string("resource-service")),
            ("deployment.environment.name", .string("production")),
            ("user.id", .string("resource-user")),
            ("gen_ai.provider.name", .string("openai")),
        ])
        #expect(span.environment == "canary")
        #expect(span.user == "span-user")
        #expect(span.service == "span-service")
        // What only the resource says is still used.
        #expect(span.provider == "openai")
    }

    // MARK: Tokens

    @Test("Tokens given as doubles or strings are read")
    func tokenTypes() throws {
        let span = try normalizeOne([
            ("gen_ai.request.model", .string("gpt-4o")),
            ("gen_ai.usage.input_tokens", .double(1500.0)),
            ("gen_ai.usage.output_tokens", .string("250")),
            ("gen_ai.usage.cache_read.input_tokens", .string(" 10 ")),
            ("gen_ai.usage.reasoning.output_tokens", .double(2.6)),
            ("gen_ai.usage.cache_creation.input_tokens", .string("1e2")),
        ])
        #expect(span.input == 1500)
        #expect(span.output == 250)
        #expect(span.cacheRead == 10)
        #expect(span.reasoning == 3)
        #expect(span.cacheWrite == 100)
        #expect(span.total == 1750)
        #expect(span.cost == (try expectedCost("gpt-4o", TokenUsage(input: 1500, output: 250, cacheRead: 10, cacheWrite: 100))))
        // Values that are not numbers are not tokens.
        let junk = try normalizeOne([("gen_ai.usage.input_tokens", .string("many")), ("gen_ai.usage.output_tokens", .bool(true)),
                                     ("gen_ai.usage.reasoning.output_tokens", .double(.nan))])
        #expect(junk.input == nil && junk.output == nil && junk.reasoning == nil && junk.total == nil)
    }

    @Test("The total is input + output when not given")
    func derivedTotal() throws {
        #expect(try normalizeOne([("gen_ai.usage.input_tokens", .int(7)), ("gen_ai.usage.output_tokens", .int(5))]).total == 12)
        #expect(try normalizeOne([("gen_ai.usage.input_tokens", .int(7))]).total == 7)
        #expect(try normalizeOne([("gen_ai.usage.output_tokens", .int(5))]).total == 5)
        #expect(try normalizeOne([("gen_ai.usage.total_tokens", .int(100)), ("gen_ai.usage.input_tokens", .int(7))]).total == 100)
        #expect(try normalizeOne([("gen_ai.request.model", .string("gpt-4o"))]).total == nil)
    }

    // MARK: Pricing

    @Test("A model without a price: cost nil (never 0) and counted as unpriced")
    func unpriced() throws {
        let (batch, spans) = try normalize([
            ([("gen_ai.request.model", .string("my-private-model")), ("gen_ai.usage.input_tokens", .int(10))], defaultResource),
            ([("gen_ai.request.model", .string("gpt-4o")), ("gen_ai.usage.input_tokens", .int(10))], defaultResource),
            ([("gen_ai.usage.output_tokens", .int(10))], defaultResource),  // tokens but no model at all
            ([("gen_ai.request.model", .string("another-unknown")), ("gen_ai.usage.output_tokens", .int(1))], defaultResource),
        ])
        #expect(spans[0].cost == nil)
        #expect(spans[0].costSource == .none)
        #expect(spans[0].costSource.name == nil)
        #expect(spans[0].priceModel == nil)
        #expect(spans[1].cost == 25)
        #expect(spans[2].cost == nil)
        #expect(spans[3].cost == nil)
        #expect(batch.columns.unpricedCount == 3)
    }

    @Test("A span without tokens has no cost and is not unpriced")
    func noTokens() throws {
        let (batch, spans) = try normalize([
            ([("gen_ai.request.model", .string("gpt-4o"))], defaultResource),
            ([("gen_ai.request.model", .string("my-private-model"))], defaultResource),
            ([("http.route", .string("/"))], defaultResource),
        ])
        for span in spans {
            #expect(span.cost == nil)
            #expect(span.costSource == .none)
            #expect(span.priceModel == nil)
        }
        #expect(batch.columns.unpricedCount == 0)
        #expect(spans[2].kind == .none && spans[2].model == nil && spans[2].provider == nil && spans[2].total == nil)
    }

    @Test("The response model is used for pricing, the request model otherwise")
    func responseModelPricing() throws {
        let mistral = try normalizeOne([
            ("gen_ai.request.model", .string("mistral-large-latest")),
            ("gen_ai.response.model", .string("mistral-large-2411")),
            ("gen_ai.usage.input_tokens", .int(1000)),
            ("gen_ai.usage.output_tokens", .int(1000)),
        ])
        #expect(mistral.model == "mistral-large-latest")
        #expect(mistral.responseModel == "mistral-large-2411")
        #expect(mistral.priceModel == (try priceModel("mistral-large-2411")))
        #expect(mistral.priceModel != (try priceModel("mistral-large-latest")))
        #expect(mistral.cost == 8000)
        #expect(mistral.costSource == .pricing)

        // An alias the table does not know, answered by a known model.
        let alias = try normalizeOne([
            ("gen_ai.request.model", .string("our-default-model")),
            ("gen_ai.response.model", .string("gpt-4o-2024-08-06")),
            ("gen_ai.usage.input_tokens", .int(1000)),
        ])
        #expect(alias.cost == 2500)
        #expect(alias.priceModel == (try priceModel("gpt-4o")))

        // An unknown response model falls back to the request model.
        let fallback = try normalizeOne([
            ("gen_ai.request.model", .string("gpt-4o-mini")),
            ("gen_ai.response.model", .string("some-internal-deployment")),
            ("gen_ai.usage.output_tokens", .int(1000)),
        ])
        #expect(fallback.cost == 600)
        #expect(fallback.priceModel == (try priceModel("gpt-4o-mini")))

        // Only a response model: it is the model column too.
        let onlyResponse = try normalizeOne([("gen_ai.response.model", .string("gpt-4o")), ("gen_ai.usage.input_tokens", .int(4))])
        #expect(onlyResponse.model == "gpt-4o")
        #expect(onlyResponse.responseModel == "gpt-4o")
        #expect(onlyResponse.cost == 10)
    }

    @Test("A custom pricing table prices what the built-in one does not")
    func customPricing() throws {
        let normalizer = SpanNormalizer(pricing: PricingTable(entries: [ModelPrice(model: "my-private-model", input: 1, output: 2)]))
        let span = try normalizeOne([("gen_ai.request.model", .string("my-private-model")), ("gen_ai.usage.input_tokens", .int(100)),
                                     ("gen_ai.usage.output_tokens", .int(100))], normalizer: normalizer)
        #expect(span.cost == 300)
        #expect(span.priceModel == "my-private-model")
        let (batch, _) = try normalize([([("gen_ai.request.model", .string("gpt-4o")), ("gen_ai.usage.input_tokens", .int(1))], defaultResource)],
                                       normalizer: normalizer)
        #expect(batch.columns.costMicros == [nil])
        #expect(batch.columns.unpricedCount == 1)
    }

    @Test("The same model in many spans prices every one of them")
    func repeatedModels() throws {
        let spans = try normalize((0..<20).map { index in
            ([("gen_ai.request.model", .string(index.isMultiple(of: 2) ? "gpt-4o" : "unknown-x")),
              ("gen_ai.usage.input_tokens", .int(Int64(index * 100)))], defaultResource)
        })
        #expect(spans.batch.columns.unpricedCount == 10)
        for (index, span) in spans.spans.enumerated() {
            #expect(span.cost == (index.isMultiple(of: 2) ? Int64(index * 250) : nil))
        }
    }

    // MARK: Purity

    @Test("Normalization leaves the original attributes untouched")
    func attributesUntouched() throws {
        var builder = OTLPPayloadBuilder()
        var span = OTLPPayloadBuilder.Span(traceID: TraceID(high: 1, low: 2), spanID: 3)
        span.attributes = [
            ("gen_ai.request.model", .string("gpt-4o")),
            ("gen_ai.system", .string("openai")),
            ("gen_ai.usage.input_tokens", .string("12")),
            ("llm.cost.total", .double(0.5)),
            ("user.id", .string("u")),
            ("nested", .array([.string("x"), .keyValueList([("y", .int(1))])])),
        ]
        builder.add(span, resource: [("service.name", .string("svc")), ("deployment.environment", .string("prod"))])
        let batch = try SpanBatch.decodeProtobuf(builder.payload())
        let before = batch.keyValues(in: batch.attributes, RowRange(start: 0, count: batch.attributes.count))
        let normalized = SpanNormalizer().normalize(batch)
        let after = normalized.spans.keyValues(in: normalized.spans.attributes, RowRange(start: 0, count: normalized.spans.attributes.count))
        #expect(before.count == after.count)
        #expect(zip(before, after).allSatisfy { $0.key == $1.key && $0.value == $1.value })
        #expect(normalized.spans.bytes == batch.bytes)
        #expect(normalized.spans.attributes.keys == batch.attributes.keys)
        #expect(normalized.spans.attributes.kinds == batch.attributes.kinds)
        #expect(normalized.spans.attributes.payloads == batch.attributes.payloads)
        #expect(normalized.spans.spanAttributes == batch.spanAttributes)
        #expect(normalized.spans.resources.attributes == batch.resources.attributes)
        #expect(normalized.spans.nestedValues.payloads == batch.nestedValues.payloads)
        #expect(normalized.spans.keyValues(in: normalized.spans.attributes, normalized.spans.spanAttributes[0]).count == 6)
        // The normalized strings point into the same arena.
        #expect(Normalized(normalized, span: 0).model == "gpt-4o")
        #expect(Normalized(normalized, span: 0).input == 12)
    }

    @Test("An empty batch normalizes to empty columns")
    func emptyBatch() throws {
        let normalized = SpanNormalizer().normalize(try SpanBatch.decodeProtobuf([]))
        #expect(normalized.count == 0)
        #expect(normalized.columns.model.isEmpty)
        #expect(normalized.columns.unpricedCount == 0)
    }

    @Test("Several conventions and resources in one batch")
    func mixedConventionsInOneBatch() throws {
        let (batch, spans) = try normalize([
            ([("gen_ai.provider.name", .string("openai")), ("gen_ai.request.model", .string("gpt-4o")),
              ("gen_ai.usage.input_tokens", .int(2000)), ("gen_ai.usage.output_tokens", .int(100))],
             [("service.name", .string("a")), ("deployment.environment.name", .string("production"))]),
            ([("llm.model_name", .string("claude-3-haiku-20240307")), ("llm.token_count.prompt", .int(1000)),
              ("llm.token_count.completion", .int(1000))], [("service.name", .string("b"))]),
            ([("pyflare.model.id", .string("gemini-1.5-pro")), ("pyflare.tokens.input", .int(1000)), ("pyflare.tokens.output", .int(1000))],
             [("service.name", .string("a")), ("deployment.environment.name", .string("production"))]),
        ])
        #expect(spans.map(\.cost) == [6000, 1500, 10000])
        #expect(spans.map(\.service) == ["a", "b", "a"])
        #expect(spans.map(\.environment) == ["production", nil, "production"])
        #expect(batch.columns.unpricedCount == 0)
    }
}
