import Foundation
public import PyFlareAnalytics
public import Hummingbird
public import PyFlareModel
import PyFlareWire

/// `GET /api/v1/pricing` (every price in force, with where it came from and the table's
/// version) and `PUT /api/v1/pricing/{model}` (adds or replaces one price; spans received
/// from then on are priced with it, and it is kept across restarts).
public struct PricingRoutes: Sendable {
    let pricing: LivePricing
    let overrides: PricingOverrides

    public init(pricing: LivePricing, overrides: PricingOverrides) {
        self.pricing = pricing
        self.overrides = overrides
    }

    public func routes<Context: RequestContext>(context: Context.Type = Context.self) -> APIRouteCollection<Context> {
        let routes = APIRouteCollection(context: Context.self)
        routes.api("/api/v1/pricing") { _, _ in list() }
        routes.api("/api/v1/pricing/:model", method: .put) { request, context in
            try await put(try context.parameters.path("model"), request)
        }
        return routes
    }

    func list() -> Response {
        let (version, entries) = pricing.listing
        var json = JSONWriter(capacity: 160 * entries.count + 128)
        json.raw("{")
        json.member("version", version)
        json.raw(#","currency":"USD","unit":"per_million_tokens","models":["#)
        json.elements(of: entries) { entry, json in
            Self.write(entry.price, source: entry.source, into: &json)
        }
        json.raw("]}")
        return .json(json)
    }

    func put(_ model: String, _ request: Request) async throws -> Response {
        let name = model.trimmingCharacters(in: .whitespaces).lowercased()
        guard !name.isEmpty, name.count <= 200 else { throw APIError.invalid("model", "must be a model id of 1 to 200 characters") }
        let fields = JSONFields(try await JSONBody.read(request, maxBytes: 16 << 10))
        func price(_ key: String, required: Bool) throws(APIError) -> Double? {
            guard let value = try fields.number(key) else {
                if required { throw .invalid(key, "is required (USD per million tokens)") }
                return nil
            }
            guard value >= 0, value < 1_000_000 else { throw .invalid(key, "must be a price in USD per million tokens, from 0") }
            return value
        }
        let price = ModelPrice(model: name, provider: try fields.string("provider"), input: try price("input", required: true)!,
                               output: try price("output", required: true)!, cacheRead: try price("cache_read", required: false),
                               cacheWrite: try price("cache_write", required: false))
        try await overrides.save(price, now: UnixTime.nowNanoseconds())
        pricing.set(price)
        var json = JSONWriter()
        json.raw("{")
        json.member("version", pricing.version)
        json.key("model")
        Self.write(price, source: .api, into: &json)
        json.byte(UInt8(ascii: "}"))
        return .json(json)
    }

    static func write(_ price: ModelPrice, source: LivePricing.Source, into json: inout JSONWriter) {
        json.raw("{")
        json.member("model", price.model)
        json.member("provider", price.provider)
        json.member("input", price.input)
        json.member("output", price.output)
        json.member("cache_read", price.cacheRead)
        json.member("cache_write", price.cacheWrite)
        json.member("source", source.rawValue)
        json.byte(UInt8(ascii: "}"))
    }
}
