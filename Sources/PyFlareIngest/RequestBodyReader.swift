public import Hummingbird
public import NIOCore

/// Reads a request body within a size limit, and keeps reading past it for a while.
///
/// A server that answers 413 and stops reading leaves a client that is still sending blocked
/// on a full socket until its own timeout (HTTP/1 clients read the answer only once their
/// body is out), and an exporter then retries the same batch. So a body over the limit is
/// read on and dropped, up to ``drainAllowance`` more bytes: the client finishes sending and
/// reads its 413 at once. A body larger still is answered with `Connection: close`, which
/// closes the connection right after the answer.
public enum RequestBodyReader {
    /// Bytes past the limit read and dropped so that the client can take its 413.
    public static let drainAllowance = 64 << 20

    public enum Outcome: Sendable {
        case body(ByteBuffer)
        /// The body is over the limit; `mustClose` when it was not read to its end.
        case tooLarge(mustClose: Bool)
    }

    public static func read(_ request: Request, limit: Int) async throws -> Outcome {
        let drainLimit = limit.addingReportingOverflow(drainAllowance).overflow ? Int.max : limit + drainAllowance
        let declared = request.headers[.contentLength].flatMap(Int.init)
        if let declared, declared > drainLimit { return .tooLarge(mustClose: true) }
        var buffer = ByteBuffer()
        if let declared, declared <= limit { buffer.reserveCapacity(declared) }
        var total = 0
        for try await chunk in request.body {
            total += chunk.readableBytes
            if total <= limit {
                var chunk = chunk
                buffer.writeBuffer(&chunk)
            } else if total > drainLimit {
                return .tooLarge(mustClose: true)
            }
        }
        return total > limit ? .tooLarge(mustClose: false) : .body(buffer)
    }
}

extension Response {
    /// This response, closing the connection after it when `close` (a body left unread).
    public func closingConnection(_ close: Bool) -> Response {
        guard close else { return self }
        var response = self
        response.headers[.connection] = "close"
        return response
    }
}
