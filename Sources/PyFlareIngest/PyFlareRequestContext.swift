public import Hummingbird
public import NIOCore
public import PyFlareAccess

/// The request context of every PyFlare HTTP listener: Hummingbird's, plus the connection (a
/// handler doing long work stops it when its client goes away, see `Channel.clientGone`; the
/// access check counts failures by the peer's address), plus what the access check granted.
public struct PyFlareRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel
    /// The project this request was allowed for, once the access check ran.
    public var grant: AccessGrant?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// The peer's IP address.
    public var clientAddress: String? { channel.remoteAddress?.ipAddress }
}
