import Foundation
import PyFlareWire

/// Model prices, looked up exactly and then by the longest prefix.
///
/// The built-in table ships in the binary (`Resources/pricing.json`); entries from the
/// config file replace built-in ones of the same model. Lookups normalize the name:
/// lowercase, and provider paths such as `openai/` or `models/` and vendor prefixes
/// such as `anthropic.` (Bedrock) are ignored.
public struct PricingTable: Sendable {
    public private(set) var entries: [ModelPrice]
    private var indexByModel: [String: Int]
    /// The `version` of the built-in data.
    public let version: String

    public init(entries: [ModelPrice], version: String = "custom") {
        self.entries = []
        self.indexByModel = [:]
        self.version = version
        for entry in entries { upsert(entry) }
    }

    /// Adds `price`, or replaces the entry of the same model.
    public mutating func upsert(_ price: ModelPrice) {
        if let index = indexByModel[price.model] {
            entries[index] = price
        } else {
            indexByModel[price.model] = entries.count
            entries.append(price)
        }
    }

    /// The built-in table with `overrides` applied on top.
    public static func builtIn(overrides: [ModelPrice] = []) -> PricingTable {
        var table = builtInTable
        for price in overrides { table.upsert(price) }
        return table
    }

    private static let builtInTable: PricingTable = {
        do {
            return try parseBuiltIn(PackageResources.pricing_json)
        } catch {
            // The file is part of the build and tested; a failure here is a packaging bug.
            preconditionFailure("built-in pricing.json is invalid: \(error)")
        }
    }()

    /// `{"version": …, "models": [{"model", "provider", "input", "output", "cache_read", "cache_write"}]}`.
    static func parseBuiltIn(_ bytes: [UInt8]) throws -> PricingTable {
        struct Invalid: Error, CustomStringConvertible { var description: String }
        let file = try JSONValue.parse(bytes)
        guard case .string(let version)? = file["version"], case .array(let models)? = file["models"] else {
            throw Invalid(description: "needs a version and a list of models")
        }
        let entries = try models.enumerated().map { index, model in
            guard case .string(let name)? = model["model"], let input = model["input"]?.number, let output = model["output"]?.number else {
                throw Invalid(description: "model \(index) needs a model name, an input and an output price")
            }
            let provider: String? = if case .string(let provider)? = model["provider"] { provider } else { nil }
            return ModelPrice(model: name, provider: provider, input: input, output: output,
                              cacheRead: model["cache_read"]?.number, cacheWrite: model["cache_write"]?.number)
        }
        return PricingTable(entries: entries, version: version)
    }

    /// The index in ``entries`` of the price for `model`, or nil if unpriced.
    public func index(for model: String) -> Int? {
        let name = model.lowercased()
        if let index = longestPrefixMatch(name) { return index }
        let stripped = Self.strippingProviderPrefixes(name)
        return stripped == name ? nil : longestPrefixMatch(stripped)
    }

    public func price(for model: String) -> ModelPrice? {
        index(for: model).map { entries[$0] }
    }

    private func longestPrefixMatch(_ name: String) -> Int? {
        if let exact = indexByModel[name] { return exact }
        let utf8 = Array(name.utf8)
        var end = utf8.count - 1
        while end > 0 {
            if Self.isBoundary(utf8[end]), let index = indexByModel[String(decoding: utf8[..<end], as: UTF8.self)] {
                return index
            }
            end -= 1
        }
        return nil
    }

    private static func isBoundary(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: "@"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "/"): true
        default: false
        }
    }

    /// `openai/gpt-4o` → `gpt-4o`; `us.anthropic.claude-3-5-sonnet-…` → `claude-3-5-sonnet-…`.
    static func strippingProviderPrefixes(_ name: String) -> String {
        var rest = Substring(name)
        if let slash = rest.lastIndex(of: "/") { rest = rest[rest.index(after: slash)...] }
        // Leading dot-separated words without digits are region or vendor qualifiers.
        while let dot = rest.firstIndex(of: "."), dot != rest.startIndex,
              rest[..<dot].allSatisfy({ $0.isLetter }), rest.index(after: dot) < rest.endIndex {
            rest = rest[rest.index(after: dot)...]
        }
        return String(rest)
    }
}
