#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failure of a sink or of the store, with the file it concerns and the OS error.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable { case io, closed, corrupt, unsupportedVersion, database }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// A system call on a file failed.
        public static let io = Code(.io)
        /// The sink was written to after it was closed.
        public static let closed = Code(.closed)
        /// A file failed its checksum or does not parse.
        public static let corrupt = Code(.corrupt)
        /// A file was written by a format version this build does not read.
        public static let unsupportedVersion = Code(.unsupportedVersion)
        /// The SQLite index refused an operation.
        public static let database = Code(.database)

        public var description: String { "\(value)" }
    }

    public var code: Code
    public var message: String
    public var path: String
    /// `errno` when the failure came from a system call.
    public var errno: Int32?

    public init(_ code: Code, _ message: String, path: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.errno = errno
    }

    public var description: String {
        var text = "\(message): \(path)"
        if let errno { text += " (\(String(cString: strerror(errno))))" }
        return text
    }
}
