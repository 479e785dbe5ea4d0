import Foundation
public import Hummingbird
import NIOCore
import NIOPosix

/// Refuses what a hostile web page can make a visitor's browser send to the API, with auth on
/// or off (`docs/limits.md`):
///
/// - **DNS rebinding**: a page on `attacker.example` whose name now resolves to 127.0.0.1 talks
///   to the API with `Host: attacker.example`. Requests whose `Host` is not one of the server's
///   own names and addresses (`localhost`, every local interface address, `api.allowed_hosts`)
///   get 421.
/// - **Cross-site requests**: a page can send a POST without a preflight when its body is
///   `text/plain`, form-encoded or multipart. A mutating request (POST, PUT, PATCH, DELETE) from
///   another origin is refused (403), and one with a body must say `application/json` (415).
///   Browsers always send `Origin` on such requests; clients that are not browsers send none.
public struct BrowserRequestGuard<Context: RequestContext>: RouterMiddleware {
    let allowedHosts: Set<String>

    /// - Parameter extraHosts: names the API is reached by beyond this machine's own
    ///   (a load balancer's public name, say).
    public init(extraHosts: [String]) {
        var hosts: Set<String> = ["localhost", "127.0.0.1", "::1"]
        for device in (try? System.enumerateDevices()) ?? [] {
            if let address = device.address?.ipAddress { hosts.insert(address.lowercased()) }
        }
        for host in extraHosts { hosts.insert(host.lowercased()) }
        allowedHosts = hosts
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let host = request.head.authority.flatMap(Self.hostName), allowedHosts.contains(host) else {
            return APIError(.misdirectedRequest, code: "misdirected",
                            "this server does not answer for the host name in the Host header; add it to api.allowed_hosts").response
        }
        switch request.method {
        case .post, .put, .patch, .delete:
            if let origin = request.headers[.origin], !isSameOrigin(origin) {
                return APIError(.forbidden, code: "cross_origin", "requests that change data are not accepted from another origin").response
            }
            let hasBody = request.headers[.contentLength].map { $0 != "0" } ?? (request.headers[.transferEncoding] != nil)
            if hasBody, !JSONBody.isJSON(request.headers[.contentType]) {
                return APIError(.unsupportedMediaType, code: "unsupported_media_type",
                                "Content-Type must be application/json, not \"\(request.headers[.contentType] ?? "")\"").response
            }
        default: break
        }
        return try await next(request, context)
    }

    /// `Origin: http://host:port` names one of this server's hosts (the port is the browser's
    /// concern: a page of ours on this host is served by this port).
    private func isSameOrigin(_ origin: String) -> Bool {
        guard let schemeEnd = origin.range(of: "://") else { return false }
        return Self.hostName(String(origin[schemeEnd.upperBound...])).map(allowedHosts.contains) ?? false
    }

    /// The host of a `Host` header value or of an origin's authority: without the port, IPv6
    /// brackets removed, lowercased.
    static func hostName(_ authority: String) -> String? {
        var text = authority.trimmingCharacters(in: .whitespaces).lowercased()
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            return String(text[text.index(after: text.startIndex)..<close])
        }
        if let colon = text.lastIndex(of: ":") { text = String(text[..<colon]) }
        return text.isEmpty ? nil : text
    }
}
