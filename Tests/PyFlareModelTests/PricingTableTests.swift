import PyFlareModel
import Testing

@Suite("Pricing table")
struct PricingTableTests {
    let table = PricingTable.builtIn()

    @Test("The built-in table loads")
    func builtInLoads() {
        #expect(table.entries.count > 50)
        #expect(!table.version.isEmpty)
        #expect(table.version != "custom")
        // Models are stored lowercase and unique.
        #expect(table.entries.allSatisfy { $0.model == $0.model.lowercased() })
        #expect(Set(table.entries.map(\.model)).count == table.entries.count)
        #expect(table.entries.allSatisfy { $0.input >= 0 && $0.output >= 0 })
        // Every entry is found under its own name.
        for (index, entry) in table.entries.enumerated() {
            #expect(table.index(for: entry.model) == index, "\(entry.model)")
        }
    }

    @Test("Required prices", arguments: [
        ("gpt-4o", 2.50, 10.00, 1.25, nil),
        ("gpt-4o-mini", 0.15, 0.60, 0.075, nil),
        ("claude-3-5-sonnet", 3.00, 15.00, 0.30, 3.75),
        ("claude-3-haiku-20240307", 0.25, 1.25, 0.03, 0.30),
        ("gemini-1.5-pro", 2.50, 7.50, nil, nil),
        ("mistral-large-2411", 2.00, 6.00, nil, nil),
    ] as [(String, Double, Double, Double?, Double?)])
    func requiredPrices(model: String, input: Double, output: Double, cacheRead: Double?, cacheWrite: Double?) throws {
        let price = try #require(table.price(for: model), "\(model) is not priced")
        #expect(price.model == model)
        #expect(price.input == input)
        #expect(price.output == output)
        #expect(price.cacheRead == cacheRead)
        if model.hasPrefix("claude") { #expect(price.cacheWrite == cacheWrite) }
    }

    @Test("An exact entry beats a shorter prefix")
    func exactBeatsPrefix() throws {
        // gpt-4o-2024-05-13 has its own (higher) price; gpt-4o is also a prefix of it.
        let dated = try #require(table.price(for: "gpt-4o-2024-05-13"))
        #expect(dated.model == "gpt-4o-2024-05-13")
        #expect(dated.input == 5.00)
        let custom = PricingTable(entries: [ModelPrice(model: "m", input: 1, output: 1), ModelPrice(model: "m-1", input: 2, output: 2)])
        #expect(custom.price(for: "m-1")?.input == 2)
        #expect(custom.price(for: "m")?.input == 1)
    }

    @Test("The longest prefix wins", arguments: [
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
        ("claude-3-haiku-20240307", "claude-3-haiku-20240307"),
        ("claude-3-haiku-20250101", "claude-3-haiku"),
        ("gemini-1.5-pro-002", "gemini-1.5-pro"),
        ("gemini-1.5-flash-8b-001", "gemini-1.5-flash-8b"),
        ("GPT-4o-Mini-2024-07-18", "gpt-4o-mini"),
    ])
    func longestPrefix(name: String, model: String) {
        #expect(table.price(for: name)?.model == model)
    }

    @Test("A prefix matches only at a boundary (- : @ . _ /)")
    func boundary() {
        let custom = PricingTable(entries: [ModelPrice(model: "gpt-4", input: 30, output: 60)])
        #expect(custom.price(for: "gpt-4o-something-unknown") == nil)
        #expect(custom.price(for: "gpt-4o") == nil)
        #expect(custom.price(for: "gpt-40") == nil)
        #expect(custom.price(for: "gpt-4-0613")?.model == "gpt-4")
        #expect(custom.price(for: "gpt-4:latest")?.model == "gpt-4")
        #expect(custom.price(for: "gpt-4@2024")?.model == "gpt-4")
        #expect(custom.price(for: "gpt-4.5")?.model == "gpt-4")
        #expect(custom.price(for: "gpt-4_x")?.model == "gpt-4")
        #expect(custom.price(for: "gpt-4/v")?.model == "gpt-4")
        #expect(custom.price(for: "gpt-4-")?.model == "gpt-4")
        #expect(custom.price(for: "gpt") == nil)
        #expect(custom.price(for: "") == nil)
        // In the built-in table gpt-4o is its own entry, never priced as gpt-4.
        #expect(table.price(for: "gpt-4o-something-unknown")?.model == "gpt-4o")
    }

    @Test("Provider and vendor prefixes are stripped", arguments: [
        ("openai/gpt-4o", "gpt-4o"),
        ("openai/gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("models/gemini-1.5-pro", "gemini-1.5-pro"),
        ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet"),
        ("anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku-20240307"),
        ("eu.anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku-20240307"),
        ("bedrock/us.anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet"),
        ("projects/p/locations/l/publishers/google/models/gemini-1.5-pro-002", "gemini-1.5-pro"),
        ("mistral/mistral-large-2411", "mistral-large-2411"),
    ])
    func providerPrefixes(name: String, model: String) {
        #expect(table.price(for: name)?.model == model)
    }

    @Test("Unknown models are not priced")
    func unknownModels() {
        for name in ["", "totally-unknown-model", "llama-3-70b-private", "openai/", "us.anthropic.", "models/unknown", "4o", "o"] {
            #expect(table.price(for: name) == nil, "\(name.debugDescription)")
            #expect(table.index(for: name) == nil, "\(name.debugDescription)")
        }
    }

    @Test("Overrides replace built-in entries and add new ones")
    func overrides() throws {
        let base = PricingTable.builtIn()
        let overridden = PricingTable.builtIn(overrides: [
            ModelPrice(model: "GPT-4o", provider: "openai", input: 1.0, output: 2.0, cacheRead: 0.5),
            ModelPrice(model: "my-finetune", provider: "acme", input: 7.0, output: 8.0),
        ])
        #expect(overridden.entries.count == base.entries.count + 1)
        let replaced = try #require(overridden.price(for: "gpt-4o"))
        #expect(replaced.input == 1.0 && replaced.output == 2.0 && replaced.cacheRead == 0.5)
        // The replacement keeps the original's slot; dated names now resolve to it.
        #expect(overridden.index(for: "gpt-4o") == base.index(for: "gpt-4o"))
        #expect(overridden.price(for: "gpt-4o-2024-08-06")?.input == 1.0)
        #expect(overridden.price(for: "gpt-4o-mini")?.input == 0.15)
        let added = try #require(overridden.price(for: "my-finetune"))
        #expect(added.provider == "acme")
        #expect(overridden.price(for: "my-finetune-v2")?.model == "my-finetune")
        #expect(overridden.price(for: "acme/my-finetune")?.model == "my-finetune")
        #expect(overridden.version == base.version)
        // The built-in table itself is unchanged.
        #expect(PricingTable.builtIn().price(for: "gpt-4o")?.input == 2.50)
        #expect(PricingTable.builtIn().price(for: "my-finetune") == nil)
        // A later override of the same model wins.
        let twice = PricingTable.builtIn(overrides: [ModelPrice(model: "x", input: 1, output: 1), ModelPrice(model: "x", input: 2, output: 2)])
        #expect(twice.price(for: "x")?.input == 2)
        var table = PricingTable(entries: [])
        #expect(table.version == "custom")
        table.upsert(ModelPrice(model: "a", input: 1, output: 1))
        table.upsert(ModelPrice(model: "A", input: 3, output: 3))
        #expect(table.entries.count == 1 && table.entries[0].input == 3)
    }

    @Test("Cost: cached reads at the cache price and taken out of input")
    func costWithCachedReads() throws {
        let gpt4o = try #require(table.price(for: "gpt-4o"))
        // 1000 × 2.5 + 1000 × 1.25 + 100 × 10 = 4750 micro-dollars.
        #expect(gpt4o.costMicros(TokenUsage(input: 2000, output: 100, cacheRead: 1000)) == 4750)
        #expect(gpt4o.costMicros(TokenUsage(input: 2000, output: 100)) == 6000)
        #expect(gpt4o.costMicros(TokenUsage(input: 1_000_000, output: 1_000_000)) == 12_500_000)
        #expect(gpt4o.costMicros(TokenUsage()) == 0)
    }

    @Test("Cost: cache writes at the cache-write price and taken out of input")
    func costWithCacheWrites() throws {
        let sonnet = try #require(table.price(for: "claude-3-5-sonnet"))
        // 500 uncached × 3 + 300 reads × 0.30 + 200 writes × 3.75 + 100 × 15 = 1500 + 90 + 750 + 1500.
        #expect(sonnet.costMicros(TokenUsage(input: 1000, output: 100, cacheRead: 300, cacheWrite: 200)) == 3840)
        #expect(sonnet.costMicros(TokenUsage(input: 1000, cacheWrite: 1000)) == 3750)
    }

    @Test("Cost: no cache prices falls back to the input price; rounding; inconsistent counts")
    func costEdges() throws {
        let gemini = try #require(table.price(for: "gemini-1.5-pro"))
        #expect(gemini.cacheRead == nil && gemini.cacheWrite == nil)
        #expect(gemini.costMicros(TokenUsage(input: 1000, cacheRead: 400)) == 2500)
        #expect(gemini.costMicros(TokenUsage(input: 1000, cacheWrite: 400)) == 2500)
        let mini = try #require(table.price(for: "gpt-4o-mini"))
        #expect(mini.costMicros(TokenUsage(input: 3)) == 0)  // 0.45
        #expect(mini.costMicros(TokenUsage(input: 4)) == 1)  // 0.60
        #expect(mini.costMicros(TokenUsage(output: 1)) == 1)  // 0.60
        // More cached than input (a misreporting SDK): uncached input is clamped at zero.
        #expect(mini.costMicros(TokenUsage(input: 10, cacheRead: 200)) == 15)  // 200 × 0.075, nothing for input
        let custom = ModelPrice(model: "X-Model", input: 1, output: 2, cacheRead: 0.1, cacheWrite: 1.5)
        #expect(custom.model == "x-model")
        #expect(custom.costMicros(TokenUsage(input: 1000, output: 1000, cacheRead: 500, cacheWrite: 250)) == 250 + 2000 + 50 + 375)
    }
}
