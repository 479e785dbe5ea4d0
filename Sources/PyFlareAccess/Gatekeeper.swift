import Foundation

/// Decides, for one request, whether its key may do what the route asks, and for which project.
///
/// The one place the rules of `docs/security.md` are applied: the REST API, OTLP/HTTP and
/// OTLP/gRPC all ask it, with the credentials their transport carries.
public final class Gatekeeper: Sendable {
    /// Off: every request is for the project its `X-PyFlare-Project` header names (default
    /// `default`), with every right — a loopback-only server, as before keys existed.
    public let enabled: Bool
    public let book: KeyBook
    public let throttle: FailureThrottle

    public init(enabled: Bool, book: KeyBook, throttle: FailureThrottle = FailureThrottle()) {
        self.enabled = enabled
        self.book = book
        self.throttle = throttle
    }

    public func decide(_ request: AccessRequest, requires requirement: AccessRequirement) -> Result<AccessGrant, AccessDenial> {
        if requirement == .public { return .success(AccessGrant(project: request.project ?? AccessCatalog.defaultProject, keyID: nil)) }
        guard enabled else { return project(named: request.project ?? AccessCatalog.defaultProject, keyID: nil) }
        guard let text = request.key else {
            return .failure(AccessDenial(.unauthenticated,
                                         "this server needs an API key: send it as Authorization: Bearer <key> or x-api-key: <key>"))
        }
        let address = request.clientAddress ?? "unknown"
        if let seconds = throttle.retryAfter(address) {
            return .failure(AccessDenial(.throttled, "too many requests with a wrong API key from this address; try again later",
                                         retryAfterSeconds: seconds))
        }
        guard let key = book.key(for: text) else {
            throttle.recordFailure(address)
            return .failure(AccessDenial(.unauthenticated, "the API key is not valid (unknown or revoked)"))
        }
        let allowed: Bool
        switch requirement {
        case .public: allowed = true
        case .read: allowed = key.scope.grants(.read)
        case .ingest: allowed = key.scope.grants(.ingest)
        case .admin: allowed = key.scope == .admin
        case .globalAdmin: allowed = key.scope == .admin && key.project == nil
        }
        guard allowed else {
            let needed = requirement == .globalAdmin ? "an admin key of all projects" : "a key of scope \(requirement.rawValue)"
            return .failure(AccessDenial(.forbidden, "this request needs \(needed); this key has scope \(key.scope.rawValue)"
                                            + (key.project.map { " in project \($0)" } ?? "")))
        }
        guard let bound = key.project else {
            return project(named: request.project ?? AccessCatalog.defaultProject, keyID: key.id)
        }
        if let named = request.project, named != bound {
            return .failure(AccessDenial(.forbidden, "this key belongs to another project than the one named in X-PyFlare-Project"))
        }
        return .success(AccessGrant(project: bound, keyID: key.id))
    }

    private func project(named name: String, keyID: String?) -> Result<AccessGrant, AccessDenial> {
        guard book.hasProject(name) else {
            return .failure(AccessDenial(.unknownProject, "no project named in X-PyFlare-Project has that name"))
        }
        return .success(AccessGrant(project: name, keyID: keyID))
    }
}

/// What a transport knows of a request's credentials.
public struct AccessRequest: Sendable {
    public var key: String?
    /// The `X-PyFlare-Project` header.
    public var project: String?
    public var clientAddress: String?

    /// - Parameters:
    ///   - authorization: the `Authorization` header (`Bearer <key>`).
    ///   - apiKey: the `x-api-key` header.
    public init(authorization: String?, apiKey: String?, project: String?, clientAddress: String?) {
        if let authorization {
            let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            // Any other scheme is a credential too, just never a valid one: refused, not ignored.
            key = parts.count == 2 && parts[0].lowercased() == "bearer" ? parts[1].trimmingCharacters(in: .whitespaces) : authorization
        } else {
            key = apiKey?.trimmingCharacters(in: .whitespaces)
        }
        let named = project?.trimmingCharacters(in: .whitespaces)
        self.project = named?.isEmpty == false ? named : nil
        self.clientAddress = clientAddress
    }

    /// The host part of `ipv4:127.0.0.1:5000`, `[::1]:5000` or `127.0.0.1:5000`: failures count by
    /// address, not by connection.
    public static func host(ofPeer peer: String) -> String {
        var text = Substring(peer)
        for scheme in ["ipv4:", "ipv6:", "unix:"] where text.hasPrefix(scheme) { text = text.dropFirst(scheme.count) }
        if text.hasPrefix("[") { return String(text.dropFirst().prefix { $0 != "]" }) }
        if text.filter({ $0 == ":" }).count == 1, let colon = text.lastIndex(of: ":") { return String(text[..<colon]) }
        if let percent = text.firstIndex(of: "%") { text = text[..<percent] }
        return String(text)
    }
}

/// A request allowed, for one project.
public struct AccessGrant: Sendable, Equatable {
    public let project: String
    /// nil with auth off and on public routes.
    public let keyID: String?
}

/// A request refused. The message never holds the key.
public struct AccessDenial: Error, Sendable {
    public enum Kind: Sendable {
        /// No key, or one that is not valid: 401, UNAUTHENTICATED.
        case unauthenticated
        /// A valid key without the right: 403, PERMISSION_DENIED.
        case forbidden
        /// `X-PyFlare-Project` names no project: 404.
        case unknownProject
        /// Too many wrong keys from this address: 429.
        case throttled
    }

    public let kind: Kind
    public let message: String
    public let retryAfterSeconds: Int?

    public init(_ kind: Kind, _ message: String, retryAfterSeconds: Int? = nil) {
        self.kind = kind
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }
}
