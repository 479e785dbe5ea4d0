/// The price of one model, in USD per million tokens.
public struct ModelPrice: Sendable, Equatable {
    /// Lowercase model id, or a prefix of ids (matched at a `-`, `:`, `@`, `.`, `_` or `/` boundary).
    public var model: String
    public var provider: String?
    public var input: Double
    public var output: Double
    /// Price of cached-input reads; the input price when nil.
    public var cacheRead: Double?
    /// Price of writing to a prompt cache; the input price when nil.
    public var cacheWrite: Double?

    public init(model: String, provider: String? = nil, input: Double, output: Double, cacheRead: Double? = nil, cacheWrite: Double? = nil) {
        self.model = model.lowercased()
        self.provider = provider
        self.input = input
        self.output = output
        self.cacheRead = cacheRead
        self.cacheWrite = cacheWrite
    }
}

/// Token counts of one call, as normalization found them.
public struct TokenUsage: Sendable, Equatable {
    /// All input tokens, cached reads and cache writes included (the OTel GenAI convention).
    public var input: Int64
    public var output: Int64
    public var cacheRead: Int64
    public var cacheWrite: Int64

    public init(input: Int64 = 0, output: Int64 = 0, cacheRead: Int64 = 0, cacheWrite: Int64 = 0) {
        self.input = input
        self.output = output
        self.cacheRead = cacheRead
        self.cacheWrite = cacheWrite
    }
}

extension ModelPrice {
    /// Cost in micro-dollars: tokens × USD per million tokens, rounded to the nearest micro-dollar.
    ///
    /// Cached reads and cache writes are priced at their own rates and taken out of the
    /// input count, since `input` includes them.
    public func costMicros(_ usage: TokenUsage) -> Int64 {
        let uncached = max(0, usage.input - usage.cacheRead - usage.cacheWrite)
        let micros = Double(uncached) * input
            + Double(usage.cacheRead) * (cacheRead ?? input)
            + Double(usage.cacheWrite) * (cacheWrite ?? input)
            + Double(usage.output) * output
        return Int64(saturating: micros.rounded())
    }
}
