import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PyFlareStore
import Synchronization
import Testing
@testable import PyFlareAPI

/// Log lines kept in memory, to see what the server logged beside an answer.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])

    var all: [String] { lines.withLock { $0 } }

    func handler(label: String) -> some LogHandler { Handler(lines: self) }

    func append(_ line: String) { lines.withLock { $0.append(line) } }

    struct Handler: LogHandler {
        let lines: LogLines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
                 file: String, function: String, line: UInt) {
            let all = self.metadata.merging(metadata ?? [:]) { $1 }
            lines.append("\(message) " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        }
    }
}

/// An error no handler expected answers 500 with a request id and nothing else of it; the
/// log line under that id has the whole error.
@Suite struct UnexpectedErrorTests {
    @Test func anUnexpectedErrorAnswers500WithARequestIDAndNoPathOrType() async throws {
        let lines = LogLines()
        let routes = APIRouteCollection(context: BasicRequestContext.self)
        let secretPath = "/srv/pyflare-data/segments/18eed7be25d1db00-0000000000000001-ea31da10.seg"
        routes.api("/api/v1/boom") { _, _ in
            throw StoreError(.io, "read failed", path: secretPath, errno: EISDIR)
        }
        let router = Router(context: BasicRequestContext.self)
        router.addRoutes(routes, listedIn: RouteList())
        let app = Application(router: router, logger: Logger(label: "test", factory: lines.handler))
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/v1/boom", method: .get) { response in
                #expect(response.status == .internalServerError)
                #expect(response.headers[.contentType] == "application/json")
                let body = String(buffer: response.body)
                for secret in ["/srv", "segments", "ea31da10", "StoreError", "Is a directory", "read failed"] {
                    #expect(!body.contains(secret), "the body shows \(secret): \(body)")
                }
                let error = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: [String: String]])["error"]
                #expect(error?["code"] == "internal")
                let message = try #require(error?["message"])
                let requestID = try #require(message.firstMatch(of: /request id (\w+)/)?.output.1)
                let logged = lines.all.filter { $0.contains(String(requestID)) }
                #expect(logged.count == 1, "\(lines.all)")
                #expect(logged.first?.contains(secretPath) == true, "\(logged)")
                #expect(logged.first?.contains("GET /api/v1/boom") == true, "\(logged)")
            }
        }
    }

    @Test func anAPIErrorKeepsItsOwnStatusAndMessage() async throws {
        let routes = APIRouteCollection(context: BasicRequestContext.self)
        routes.api("/api/v1/missing") { _, _ in throw APIError.notFound("no trace with id 42") }
        let router = Router(context: BasicRequestContext.self)
        router.addRoutes(routes, listedIn: RouteList())
        try await Application(router: router).test(.router) { client in
            try await client.execute(uri: "/api/v1/missing", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(String(buffer: response.body).contains("no trace with id 42"))
            }
        }
    }
}
