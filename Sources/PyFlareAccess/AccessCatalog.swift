import Foundation
import GRDB
import PyFlareWire

/// `access.db`: the projects of a data directory and their API keys (hashes only).
///
/// A small SQLite database of its own, apart from the projects' `index.db`s, so that
/// `pyflare keys` and `pyflare projects` can change it while a server runs (the server reads it
/// again every second, see `KeyBook`). GRDB runs every access on its own queues.
public final class AccessCatalog: Sendable {
    public static let fileName = "access.db"
    /// The project every server has; its data stays at the root of the data directory.
    public static let defaultProject = "default"

    public struct Project: Sendable, Equatable {
        public let name: String
        public let createdAtNanoseconds: Int64
    }

    public struct Key: Sendable, Equatable {
        public let id: String
        public let hash: String
        public let name: String
        public let scope: AccessScope
        /// nil: every project (admin keys only).
        public let project: String?
        public let createdAtNanoseconds: Int64
        public let lastUsedAtNanoseconds: Int64?

        public var prefix: String { APIKey.marker + id }
    }

    let pool: DatabasePool

    public init(dataDirectory: String) throws(AccessError) {
        let path = dataDirectory + "/" + Self.fileName
        do {
            try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            pool = try DatabasePool(path: path, configuration: configuration)
            try pool.write { db in
                try db.execute(sql: """
                    CREATE TABLE IF NOT EXISTS projects (
                        name TEXT PRIMARY KEY,
                        created_at_ns INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    CREATE TABLE IF NOT EXISTS api_keys (
                        id TEXT PRIMARY KEY,
                        hash TEXT NOT NULL UNIQUE,
                        name TEXT NOT NULL DEFAULT '',
                        scope TEXT NOT NULL CHECK (scope IN ('ingest', 'read', 'admin')),
                        project TEXT REFERENCES projects(name),
                        created_at_ns INTEGER NOT NULL,
                        last_used_at_ns INTEGER
                    ) WITHOUT ROWID;
                    """)
                try db.execute(sql: "INSERT OR IGNORE INTO projects (name, created_at_ns) VALUES (?, ?)",
                               arguments: [Self.defaultProject, UnixTime.nowNanoseconds()])
            }
        } catch {
            throw AccessError(.database, "cannot open \(Self.fileName): \(error)")
        }
    }

    /// `^[a-z0-9][a-z0-9_-]{0,62}$`: safe as a directory name and in a URL, on every file system.
    public static func isValidProjectName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...63).contains(bytes.count) else { return false }
        func allowed(_ byte: UInt8, first: Bool) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || (!first && (byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")))
        }
        return bytes.enumerated().allSatisfy { allowed($1, first: $0 == 0) }
    }

    // MARK: projects

    public func projects() throws(AccessError) -> [Project] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT name, created_at_ns FROM projects ORDER BY name = 'default' DESC, name").map {
                Project(name: $0["name"], createdAtNanoseconds: $0["created_at_ns"])
            }
        }
    }

    @discardableResult
    public func createProject(_ name: String) throws(AccessError) -> Project {
        guard Self.isValidProjectName(name) else {
            throw AccessError(.invalid, "a project name is 1 to 63 lowercase letters, digits, '-' or '_', starting with a letter or digit")
        }
        let project = Project(name: name, createdAtNanoseconds: UnixTime.nowNanoseconds())
        let created: Bool = try write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO projects (name, created_at_ns) VALUES (?, ?)",
                           arguments: [name, project.createdAtNanoseconds])
            return db.changesCount == 1
        }
        guard created else { throw AccessError(.conflict, "project \(name) exists") }
        return project
    }

    /// Removes the project and revokes its keys, in one transaction. Its data is the caller's to delete.
    public func deleteProject(_ name: String) throws(AccessError) {
        guard name != Self.defaultProject else { throw AccessError(.invalid, "the default project cannot be deleted") }
        let deleted: Bool = try write { db in
            try db.execute(sql: "DELETE FROM api_keys WHERE project = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM projects WHERE name = ?", arguments: [name])
            return db.changesCount == 1
        }
        guard deleted else { throw AccessError(.notFound, "no project \(name)") }
    }

    // MARK: keys

    /// A new key of `scope` for `project` (nil: all projects, admin only); its text is returned once.
    public func createKey(scope: AccessScope, project: String?, name: String) throws(AccessError) -> (APIKey, Key) {
        if project == nil, scope != .admin {
            throw AccessError(.invalid, "an \(scope.rawValue) key belongs to one project: name it")
        }
        guard name.utf8.count <= 200 else { throw AccessError(.invalid, "a key name is at most 200 bytes") }
        if let project, try !projects().contains(where: { $0.name == project }) {
            throw AccessError(.notFound, "no project \(project)")
        }
        for _ in 0..<8 {
            let key = APIKey.generate()
            let record = Key(id: key.id, hash: key.hash, name: name, scope: scope, project: project,
                             createdAtNanoseconds: UnixTime.nowNanoseconds(), lastUsedAtNanoseconds: nil)
            let inserted: Bool = try write { db in
                try db.execute(sql: """
                    INSERT OR IGNORE INTO api_keys (id, hash, name, scope, project, created_at_ns) VALUES (?, ?, ?, ?, ?, ?)
                    """, arguments: [record.id, record.hash, name, scope.rawValue, project, record.createdAtNanoseconds])
                return db.changesCount == 1
            }
            if inserted { return (key, record) }
        }
        throw AccessError(.database, "could not draw an unused key id")
    }

    public func keys() throws(AccessError) -> [Key] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, hash, name, scope, project, created_at_ns, last_used_at_ns FROM api_keys ORDER BY created_at_ns, id
                """).compactMap { row in
                AccessScope(rawValue: row["scope"]).map {
                    Key(id: row["id"], hash: row["hash"], name: row["name"], scope: $0, project: row["project"],
                        createdAtNanoseconds: row["created_at_ns"], lastUsedAtNanoseconds: row["last_used_at_ns"])
                }
            }
        }
    }

    public func revokeKey(id: String) throws(AccessError) {
        let deleted: Bool = try write { db in
            try db.execute(sql: "DELETE FROM api_keys WHERE id = ?", arguments: [id])
            return db.changesCount == 1
        }
        guard deleted else { throw AccessError(.notFound, "no key \(id)") }
    }

    /// Records when keys were last used (the server batches these, once a second).
    public func recordUse(_ lastUsed: [String: Int64]) throws(AccessError) {
        guard !lastUsed.isEmpty else { return }
        try write { db in
            for (id, time) in lastUsed {
                try db.execute(sql: "UPDATE api_keys SET last_used_at_ns = max(coalesce(last_used_at_ns, 0), ?) WHERE id = ?",
                               arguments: [time, id])
            }
        }
    }

    private func read<T>(_ body: (Database) throws -> T) throws(AccessError) -> T {
        do { return try pool.read(body) } catch { throw AccessError(.database, "cannot read \(Self.fileName): \(error)") }
    }

    private func write<T>(_ body: (Database) throws -> T) throws(AccessError) -> T {
        do { return try pool.write(body) } catch { throw AccessError(.database, "cannot write \(Self.fileName): \(error)") }
    }
}
