public import Hummingbird
public import NIOCore

/// The request context of the REST API: Hummingbird's, plus the connection, so a handler
/// doing long work can stop it when its client goes away (see `Channel.clientGone`).
public struct APIRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
