import Foundation

/// The running server's hold on its data directory (`server.lock`, an advisory `flock`): a
/// second server on the same directory is refused, and `pyflare projects delete` knows it must
/// go through the running server. The kernel drops the lock when the process ends, also on kill -9.
public final class DataDirectoryLock: Sendable {
    static let fileName = "server.lock"
    private let descriptor: Int32

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// Takes the lock, or nil when another process holds it.
    public static func acquire(dataDirectory: String) throws(AccessError) -> DataDirectoryLock? {
        let descriptor = open(dataDirectory + "/" + fileName, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw AccessError(.database, "cannot open \(fileName): \(String(cString: strerror(errno)))") }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            return nil
        }
        return DataDirectoryLock(descriptor: descriptor)
    }

    /// Whether a server holds the data directory now.
    public static func isHeld(dataDirectory: String) -> Bool {
        guard FileManager.default.fileExists(atPath: dataDirectory + "/" + fileName) else { return false }
        return ((try? acquire(dataDirectory: dataDirectory)) ?? nil) == nil
    }
}
