#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import PyFlareModel

/// A failure of a sink or of the store, with the file it concerns and the OS error.
public struct StoreError: ClientDescribedError, Sendable, CustomStringConvertible {
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

    /// What a client may be told: the message and the file's name, never the directory it is
    /// in (the log line has the whole path).
    public var clientMessage: String {
        var text = message
        if let file = path.split(separator: "/").last { text += " (\(file))" }
        if let errno { text += ": \(String(cString: strerror(errno)))" }
        return text
    }

    public var description: String {
        var text = "\(message): \(path)"
        if let errno { text += " (\(String(cString: strerror(errno))))" }
        return text
    }
}

extension StoreError {
    /// What a client may be told of any failure of a read: a ``StoreError`` without its
    /// directory, another error by its kind only (its text may hold a path).
    public static func clientMessage(of error: any Error) -> String {
        if let error = error as? StoreError { return error.clientMessage }
        if let error = error as? FormatError { return "\(error)" }
        return "the read failed (\(type(of: error)))"
    }
}
