import ArgumentParser
import Foundation
import PyFlareAccess
import PyFlareAPI
import PyFlareServer
import PyFlareWire

/// `--config` and `--data-dir` of the commands on `access.db`, which is the server's, not a
/// project's (so, unlike `StoreOptions`, no `--project`: `keys create` has its own).
struct AccessOptions: ParsableArguments {
    @Option(help: "YAML config file (default: \(ConfigurationLoader.defaultPath) if present).")
    var config: String?
    @Option(help: "Data directory (default ./data).")
    var dataDir: String?

    func load(command: String) throws -> PyFlareConfiguration {
        try loadConfiguration(path: config, flags: dataDir.map { [("data_dir", $0)] } ?? [], command: command)
    }
}

/// `access.db` of the configured data directory, or exit 2 saying why.
func openAccessCatalog(_ options: AccessOptions, command: String) throws -> AccessCatalog {
    let configuration = try options.load(command: command)
    do {
        return try AccessCatalog(dataDirectory: configuration.dataDirectory)
    } catch {
        throw fail(command, error.message, code: 2)
    }
}

/// Prints `message` after `command` on standard error; the exit code to throw.
func fail(_ command: String, _ message: String, code: Int32 = 1) -> ExitCode {
    FileHandle.standardError.write(Data("\(command): \(message)\n".utf8))
    return ExitCode(code)
}

/// A time in the tables `keys list` and `projects list` print: RFC 3339, or "never".
func listedTime(_ nanoseconds: Int64?) -> String {
    nanoseconds.map { RFC3339.string(UInt64(max(0, $0))) } ?? "never"
}

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list and revoke API keys (the server may be running: it reads them within a second).",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a key and print it; it is shown only this once (only its hash is kept).")

        @Option(help: "ingest (send data), read (the API and SQL) or admin (everything).")
        var scope: String
        @Option(help: "The key's project; omitted for an admin key of all projects.")
        var project: String?
        @Option(help: "What the key is for, shown in lists.")
        var name: String = ""
        @OptionGroup var store: AccessOptions

        func run() throws {
            guard let scope = AccessScope(rawValue: scope) else { throw fail("pyflare keys create", "--scope must be ingest, read or admin", code: 2) }
            let catalog = try openAccessCatalog(store, command: "pyflare keys create")
            do {
                let (key, record) = try catalog.createKey(scope: scope, project: project, name: name)
                print(key.text)
                FileHandle.standardError.write(Data("created \(record.scope.rawValue) key \(record.prefix) for \(record.project.map { "project \($0)" } ?? "all projects"); it is not shown again\n".utf8))
            } catch {
                throw fail("pyflare keys create", error.message)
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys: prefix, scope, project, created, last used (never the key).")

        @Flag(help: "One JSON array.")
        var json = false
        @OptionGroup var store: AccessOptions

        func run() throws {
            let catalog = try openAccessCatalog(store, command: "pyflare keys list")
            let keys: [AccessCatalog.Key]
            do { keys = try catalog.keys() } catch { throw fail("pyflare keys list", error.message) }
            if json {
                var writer = JSONWriter()
                writer.byte(UInt8(ascii: "["))
                for (index, key) in keys.enumerated() {
                    if index > 0 { writer.byte(UInt8(ascii: ",")) }
                    AccessRoutes.write(key, into: &writer)
                }
                writer.raw("]\n")
                FileHandle.standardOutput.write(Data(writer.bytes))
                return
            }
            print(["ID", "PREFIX", "SCOPE", "PROJECT", "CREATED", "LAST USED", "NAME"].joined(separator: "\t"))
            for key in keys {
                print([key.id, key.prefix, key.scope.rawValue, key.project ?? "*", listedTime(key.createdAtNanoseconds),
                       listedTime(key.lastUsedAtNanoseconds), key.name].joined(separator: "\t"))
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key by its id (the 8 characters after pfk_).")

        @Argument(help: "The key's id or prefix.")
        var id: String
        @OptionGroup var store: AccessOptions

        func run() throws {
            let catalog = try openAccessCatalog(store, command: "pyflare keys revoke")
            let id = id.hasPrefix(APIKey.marker) ? String(id.dropFirst(APIKey.marker.count).prefix(8)) : id
            do { try catalog.revokeKey(id: id) } catch { throw fail("pyflare keys revoke", error.message) }
            print("revoked \(APIKey.marker + id)")
        }
    }
}

struct Projects: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list and delete projects: each has its own store, jobs and keys under DATA_DIR/projects/NAME.",
        subcommands: [Create.self, List.self, Delete.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a project (a running server opens it within a second).")

        @Argument var name: String
        @OptionGroup var store: AccessOptions

        func run() throws {
            let catalog = try openAccessCatalog(store, command: "pyflare projects create")
            do { try catalog.createProject(name) } catch { throw fail("pyflare projects create", error.message) }
            print("created project \(name)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List projects.")

        @OptionGroup var store: AccessOptions

        func run() throws {
            let catalog = try openAccessCatalog(store, command: "pyflare projects list")
            do {
                for project in try catalog.projects() { print("\(project.name)\t\(listedTime(project.createdAtNanoseconds))") }
            } catch {
                throw fail("pyflare projects list", error.message)
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a project, its keys and all its data. The server must be stopped (or use DELETE /api/v1/projects/NAME).")

        @Argument var name: String
        @Flag(help: "Confirm: the project's data is removed for good.")
        var yes = false
        @OptionGroup var store: AccessOptions

        func run() throws {
            let command = "pyflare projects delete"
            guard yes else { throw fail(command, "this removes all of \(name)'s data; repeat with --yes", code: 2) }
            let root = try store.load(command: command).dataDirectory
            let catalog = try openAccessCatalog(store, command: command)
            guard AccessCatalog.isValidProjectName(name), name != AccessCatalog.defaultProject else {
                throw fail(command, "\(name) is not a project that can be deleted")
            }
            let directory = root + "/projects/" + name
            if DataDirectoryLock.isHeld(dataDirectory: root) {
                throw fail(command, "a server is running on this data directory; use DELETE /api/v1/projects/\(name)?confirm=true")
            }
            do { try catalog.deleteProject(name) } catch { throw fail(command, error.message) }
            try? FileManager.default.removeItem(atPath: directory)
            print("deleted project \(name)")
        }
    }
}
