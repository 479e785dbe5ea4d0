import Foundation
public import Hummingbird
import NIOCore

/// The web UI: `GET /` and `GET /ui/{file}`, answered from bytes compiled into the binary
/// (Package.swift embeds `Sources/PyFlareAPI/UI`), so a `pyflare` binary alone serves it,
/// offline and with no directory to deploy beside it.
///
/// Added to the collection directly, not with ``APIRouteCollection/api(_:method:_:)``: these answer HTML, scripts and
/// styles, not JSON, and `GET /api/v1/routes` lists the JSON API only (clients and the REST
/// fuzz walk that list expecting JSON from every entry).
public struct UIRoutes: Sendable {
    /// One embedded file, with what a browser needs to cache it.
    struct Asset: Sendable {
        let body: ByteBuffer
        let contentType: String
        /// A strong validator derived from the bytes: it changes exactly when a new binary ships
        /// a different file, so `no-cache` costs one 304 per file rather than a download.
        let entityTag: String

        init(_ bytes: [UInt8], contentType: String) {
            body = ByteBuffer(bytes: bytes)
            self.contentType = contentType
            entityTag = "\"\(Self.fnv1a(bytes))\""
        }

        static func fnv1a(_ bytes: [UInt8]) -> String {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            return String(hash, radix: 16) + "-" + String(bytes.count, radix: 16)
        }
    }

    static let javaScript = "text/javascript; charset=utf-8"

    /// Every file under `/ui/`, by name; index.html is only served at `/`, the one URL people type.
    static let assets: [String: Asset] = [
        "style.css": Asset(PackageResources.style_css, contentType: "text/css; charset=utf-8"),
        "app.js": Asset(PackageResources.app_js, contentType: javaScript),
        "util.js": Asset(PackageResources.util_js, contentType: javaScript),
        "traces.js": Asset(PackageResources.traces_js, contentType: javaScript),
        "trace.js": Asset(PackageResources.trace_js, contentType: javaScript),
        "conversation.js": Asset(PackageResources.conversation_js, contentType: javaScript),
        "sql.js": Asset(PackageResources.sql_js, contentType: javaScript),
        "logs.js": Asset(PackageResources.logs_js, contentType: javaScript),
        "sessions.js": Asset(PackageResources.sessions_js, contentType: javaScript),
        "alerts.js": Asset(PackageResources.alerts_js, contentType: javaScript),
        "overview.js": Asset(PackageResources.overview_js, contentType: javaScript),
        "chart.js": Asset(PackageResources.chart_js, contentType: javaScript),
        "costs.js": Asset(PackageResources.costs_js, contentType: javaScript),
        "rootcause.js": Asset(PackageResources.rootcause_js, contentType: javaScript),
        "quality.js": Asset(PackageResources.quality_js, contentType: javaScript),
        "operations.js": Asset(PackageResources.operations_js, contentType: javaScript),
        "favicon.svg": Asset(PackageResources.favicon_svg, contentType: "image/svg+xml"),
    ]
    static let index = Asset(PackageResources.index_html, contentType: "text/html; charset=utf-8")

    /// `PYFLARE_UI_DIR`, for working on the UI: the files of this directory (by the same names)
    /// are served instead of the embedded ones, read on every request, so an edit shows on reload
    /// without a rebuild. Unset in production.
    let developmentDirectory: String?

    public init(developmentDirectory: String? = ProcessInfo.processInfo.environment["PYFLARE_UI_DIR"]) {
        self.developmentDirectory = developmentDirectory.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The embedded asset, or its working copy when a development directory is set.
    func asset(_ name: String, embedded: Asset) -> Asset {
        guard let directory = developmentDirectory,
              let bytes = FileManager.default.contents(atPath: directory + "/" + name) else { return embedded }
        return Asset(Array(bytes), contentType: embedded.contentType)
    }

    public func routes<Context: RequestContext>(context: Context.Type = Context.self) -> APIRouteCollection<Context> {
        let routes = APIRouteCollection(context: Context.self)
        routes.collection.get("/") { request, _ in Self.respond(with: asset("index.html", embedded: Self.index), to: request) }
        routes.collection.get("/ui/:file") { request, context in
            guard let name = context.parameters.get("file"), let asset = Self.assets[name] else {
                return APIError.notFound("the web UI has no file by this name").response
            }
            return Self.respond(with: self.asset(name, embedded: asset), to: request)
        }
        return routes
    }

    static func respond(with asset: Asset, to request: Request) -> Response {
        var headers: HTTPFields = [
            .eTag: asset.entityTag,
            // Revalidate every time: file names carry no hash, and a new binary must show its own UI.
            .cacheControl: "no-cache",
            .xContentTypeOptions: "nosniff",
        ]
        if let tags = request.headers[.ifNoneMatch],
           tags.split(separator: ",").contains(where: { $0.filter { $0 != " " } == asset.entityTag || $0 == "*" }) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = asset.contentType
        if asset.contentType.hasPrefix("text/html") {
            // Everything the UI needs comes from this server; nothing may load from elsewhere.
            headers[.contentSecurityPolicy] = "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
            headers[.init("Referrer-Policy")!] = "no-referrer"
        }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: asset.body))
    }
}
