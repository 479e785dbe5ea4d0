import Synchronization

/// The prices in force, changeable while the server runs (`PUT /api/v1/pricing/{model}`):
/// the built-in table, then the config's entries, then the API's, each replacing entries of
/// the same model. Normalization takes one snapshot per batch, so a change applies to spans
/// received after it and a batch is never priced half one way and half the other.
public final class LivePricing: Sendable {
    /// Where an entry of the table came from.
    public enum Source: String, Sendable {
        case builtIn = "built-in"
        case config
        case api
    }

    private struct State: Sendable {
        var table: PricingTable
        var sources: [String: Source]
        var version: String
    }

    private let state: Mutex<State>
    private let builtInVersion: String

    public init(builtIn: PricingTable = .builtIn(), config: [ModelPrice] = [], api: [ModelPrice] = []) {
        var table = builtIn
        var sources: [String: Source] = [:]
        for price in config {
            table.upsert(price)
            sources[price.model] = .config
        }
        for price in api {
            table.upsert(price)
            sources[price.model] = .api
        }
        builtInVersion = builtIn.version
        state = Mutex(State(table: table, sources: sources,
                            version: Self.version(builtIn.version, table: table, sources: sources)))
    }

    public var table: PricingTable { state.withLock { $0.table } }

    /// The table's version and its entries with where each came from, in table order, taken together.
    public var listing: (version: String, entries: [(price: ModelPrice, source: Source)]) {
        state.withLock { state in
            (state.version, state.table.entries.map { ($0, state.sources[$0.model] ?? .builtIn) })
        }
    }

    /// Adds or replaces the price of `price.model`; entries are never removed, so a price
    /// index taken from an earlier snapshot names the same model in every later one.
    public func set(_ price: ModelPrice) {
        state.withLock { state in
            state.table.upsert(price)
            state.sources[price.model] = .api
            state.version = Self.version(builtInVersion, table: state.table, sources: state.sources)
        }
    }

    /// The built-in table's version, and with overrides a digest of them
    /// (`2026-11-01+c0ffee12`): equal versions price equal tokens equally.
    public var version: String { state.withLock { $0.version } }

    private static func version(_ builtInVersion: String, table: PricingTable, sources: [String: Source]) -> String {
        let overrides = table.entries.filter { sources[$0.model] != nil }.sorted { $0.model < $1.model }
        guard !overrides.isEmpty else { return builtInVersion }
        let text = overrides.map { price in
            "\(price.model)|\(price.provider ?? "")|\(price.input)|\(price.output)|\(price.cacheRead.map { "\($0)" } ?? "")|\(price.cacheWrite.map { "\($0)" } ?? "");"
        }.joined()
        return builtInVersion + "+" + fingerprint(text).prefix(8)
    }
}
