public import Hummingbird
public import PyFlareAccess
public import PyFlareIngest
import PyFlareWire

/// Opens and closes projects' stores and schedulers: the server does it, the API asks.
public protocol ProjectAdministration: Sendable {
    var book: KeyBook { get }
    /// Records the project and opens its store and scheduler.
    func createProject(_ name: String) async throws(AccessError) -> AccessCatalog.Project
    /// Revokes the project's keys, stops its work and deletes its data.
    func deleteProject(_ name: String) async throws(AccessError)
}

/// `/api/v1/keys` and `/api/v1/projects`: for admin keys of all projects only (`RouteAccess`).
public struct AccessRoutes: Sendable {
    let projects: any ProjectAdministration

    public init(projects: any ProjectAdministration) {
        self.projects = projects
    }

    var catalog: AccessCatalog { projects.book.catalog }

    public func routes() -> APIRouteCollection<PyFlareRequestContext> {
        let routes = APIRouteCollection(context: PyFlareRequestContext.self)
        routes.api("/api/v1/keys") { _, _ in
            let keys = try Self.catalogAnswer { () throws(AccessError) in try catalog.keys() }
            return .jsonList("keys", keys) { key, json in Self.write(key, into: &json) }
        }
        routes.api("/api/v1/keys", method: .post) { request, _ in
            let fields = JSONFields(try await JSONBody.read(request, maxBytes: 16 << 10))
            let scopeText = try fields.requiredString("scope")
            guard let scope = AccessScope(rawValue: scopeText) else { throw APIError.invalid("scope", "must be ingest, read or admin") }
            let project = try fields.string("project"), name = try fields.string("name") ?? ""
            let (key, record) = try Self.catalogAnswer { () throws(AccessError) in try catalog.createKey(scope: scope, project: project, name: name) }
            _ = try? projects.book.refresh()
            var json = JSONWriter()
            json.raw("{")
            json.member("key", key.text)
            Self.write(record, into: &json, opened: true)
            return .json(json, status: .created)
        }
        routes.api("/api/v1/keys/:id", method: .delete) { _, context in
            let id = try context.parameters.path("id")
            try Self.catalogAnswer { () throws(AccessError) in try catalog.revokeKey(id: id) }
            projects.book.forget(keyID: id)
            var json = JSONWriter()
            json.raw("{")
            json.member("revoked", id)
            json.byte(UInt8(ascii: "}"))
            return .json(json)
        }
        routes.api("/api/v1/projects") { _, _ in
            let all = try Self.catalogAnswer { () throws(AccessError) in try catalog.projects() }
            return .jsonList("projects", all) { project, json in Self.write(project, into: &json) }
        }
        routes.api("/api/v1/projects", method: .post) { request, _ in
            let fields = JSONFields(try await JSONBody.read(request, maxBytes: 16 << 10))
            let name = try fields.requiredString("name")
            let project: AccessCatalog.Project
            do throws(AccessError) { project = try await projects.createProject(name) } catch { throw APIError(error) }
            var json = JSONWriter()
            Self.write(project, into: &json)
            return .json(json, status: .created)
        }
        routes.api("/api/v1/projects/:name", method: .delete) { request, context in
            let name = try context.parameters.path("name")
            guard try QueryParameters(request).boolean("confirm") == true else {
                throw APIError(.badRequest, code: "confirmation_required",
                               "deleting a project removes all its data; repeat with ?confirm=true")
            }
            do throws(AccessError) { try await projects.deleteProject(name) } catch { throw APIError(error) }
            var json = JSONWriter()
            json.raw("{")
            json.member("deleted", name)
            json.byte(UInt8(ascii: "}"))
            return .json(json)
        }
        return routes
    }

    static func catalogAnswer<T>(_ body: () throws(AccessError) -> T) throws(APIError) -> T {
        do { return try body() } catch { throw APIError(error) }
    }

    /// A key as every answer writes it (`/api/v1/keys`, `pyflare keys list --json`): never its text or hash.
    public static func write(_ key: AccessCatalog.Key, into json: inout JSONWriter, opened: Bool = false) {
        if !opened { json.raw("{") }
        json.member("id", key.id)
        json.member("prefix", key.prefix)
        json.member("name", key.name)
        json.member("scope", key.scope.rawValue)
        json.member("project", key.project)
        json.member("created_at", time: key.createdAtNanoseconds)
        json.member("last_used_at", time: key.lastUsedAtNanoseconds)
        json.byte(UInt8(ascii: "}"))
    }

    static func write(_ project: AccessCatalog.Project, into json: inout JSONWriter) {
        json.raw("{")
        json.member("name", project.name)
        json.member("created_at", time: project.createdAtNanoseconds)
        json.byte(UInt8(ascii: "}"))
    }

}

extension APIError {
    /// The catalog's error as the API's: the database's own text stays out of the answer.
    init(_ error: AccessError) {
        switch error.kind {
        case .invalid: self = .badRequest(error.message)
        case .notFound: self = .notFound(error.message)
        case .conflict: self.init(.conflict, code: "conflict", error.message)
        case .database: self.init(.serviceUnavailable, code: "unavailable", "the access catalog cannot be read or written now")
        }
    }
}
