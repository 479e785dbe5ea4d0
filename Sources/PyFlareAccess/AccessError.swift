/// Why `access.db` could not be read or changed, or why a request was asked to change it wrongly.
public struct AccessError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable {
        /// The request is wrong: a bad name or scope (the message says which).
        case invalid
        case notFound
        case conflict
        /// `access.db` itself failed.
        case database
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
