public import NIOCore
public import NIOHTTPTypes

/// Bounds how long an HTTP/1 connection may hold the server without sending a request, and
/// tells a handler when its client went away.
///
/// - Waiting for a request head (a new connection, or a kept-alive one between requests),
///   the connection is closed after `idleTimeout`: an idle socket and a slow-loris sender that
///   trickles its headers look the same here, since a head is only passed on once it is whole.
/// - From a head to the end of its body, at most `bodyTimeout`.
/// - While a request is answered, no limit: the handler has its own deadlines.
///
/// A client that closes its side (or the connection) while its request is being answered
/// completes ``clientGone``, so long work for it (a SQL statement) can stop.
public final class HTTPConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPRequestPart
    public typealias InboundOut = HTTPRequestPart
    public typealias OutboundIn = HTTPResponsePart
    public typealias OutboundOut = HTTPResponsePart

    let idleTimeout: TimeAmount
    let bodyTimeout: TimeAmount
    private var timer: Scheduled<Void>?
    private var gone: EventLoopPromise<Void>?
    /// A head arrived and its body's end did not yet.
    private var receiving = false
    /// A request is being answered (a handler may answer before the body is all in: a 413).
    private var answering = false

    public init(idleTimeout: TimeAmount, bodyTimeout: TimeAmount) {
        self.idleTimeout = idleTimeout
        self.bodyTimeout = bodyTimeout
    }

    /// Completes when the client closes its side of the connection or the connection ends.
    public var clientGone: EventLoopFuture<Void> {
        gone!.futureResult
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        gone = context.eventLoop.makePromise()
        if context.channel.isActive { arm(context, idleTimeout) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
        gone?.succeed()
    }

    public func channelActive(context: ChannelHandlerContext) {
        arm(context, idleTimeout)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        disarm()
        gone?.succeed()
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            receiving = true
            answering = true
            arm(context, bodyTimeout)
        case .body: break
        case .end:
            receiving = false
            if answering { disarm() } else { arm(context, idleTimeout) }
        }
        context.fireChannelRead(data)
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event { gone?.succeed() }
        context.fireUserInboundEventTriggered(event)
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            answering = false
            // The answer is out: unless its body is still arriving, the connection waits for its next request.
            if !receiving {
                let written = context.eventLoop.makePromise(of: Void.self)
                written.futureResult.assumeIsolatedUnsafeUnchecked().whenSuccess { [self] in
                    if !receiving && !answering { arm(context, idleTimeout) }
                }
                context.write(data, promise: written)
                written.futureResult.cascade(to: promise)
                return
            }
        }
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext, _ timeout: TimeAmount) {
        disarm()
        timer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: timeout) {
            context.close(promise: nil)
        }
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }
}

extension Channel {
    /// Completes when this HTTP connection's client is gone (see ``HTTPConnectionGuard``); the
    /// channel's close when the guard is not in its pipeline.
    public var clientGone: EventLoopFuture<Void> {
        eventLoop.flatSubmit { [self] in
            (try? pipeline.syncOperations.handler(type: HTTPConnectionGuard.self))?.clientGone ?? closeFuture
        }
    }
}
