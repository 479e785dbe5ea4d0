import Synchronization
import PyFlareWire

/// The keys and projects of `access.db`, in memory, so that checking a request's key touches
/// no file and can run on an event loop. `refresh()` reads the catalog again (the server does
/// every second, and at once after a change through the API); last-use times are written back
/// in batches by `flushUse()`.
public final class KeyBook: Sendable {
    public let catalog: AccessCatalog

    private struct State {
        var keys: [String: AccessCatalog.Key] = [:]
        var projects: [String] = []
        var lastUsed: [String: Int64] = [:]
    }

    private let state = Mutex(State())

    public init(catalog: AccessCatalog) throws(AccessError) {
        self.catalog = catalog
        try refresh()
    }

    /// Reads the catalog again; returns the project names it holds now.
    @discardableResult
    public func refresh() throws(AccessError) -> [String] {
        let keys = try catalog.keys(), projects = try catalog.projects().map(\.name)
        state.withLock { state in
            state.keys = Dictionary(keys.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            state.projects = projects
        }
        return projects
    }

    public var projects: [String] { state.withLock { $0.projects } }
    public var isEmpty: Bool { state.withLock { $0.keys.isEmpty } }

    public func hasProject(_ name: String) -> Bool {
        state.withLock { $0.projects.contains(name) }
    }

    /// The key whose text this is, if it is one and not revoked. The stored hash is compared in
    /// constant time; the id only chooses which hash to compare with.
    func key(for text: String) -> AccessCatalog.Key? {
        guard let presented = APIKey.parse(text) else { return nil }
        let hash = presented.hash
        return state.withLock { state -> AccessCatalog.Key? in
            guard let key = state.keys[presented.id], APIKey.constantTimeEqual(key.hash, hash) else { return nil }
            state.lastUsed[key.id] = UnixTime.nowNanoseconds()
            return key
        }
    }

    /// Forgets a key now (revoked through the API): the next request with it is refused.
    public func forget(keyID: String) {
        _ = state.withLock { $0.keys.removeValue(forKey: keyID) }
    }

    /// Writes the last-use times gathered since the previous call.
    public func flushUse() throws(AccessError) {
        let pending = state.withLock { state in
            defer { state.lastUsed = [:] }
            return state.lastUsed
        }
        try catalog.recordUse(pending)
    }
}
