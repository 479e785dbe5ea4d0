import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// How the connection to the SMTP server is protected (`alerts.smtp.security`).
public enum SMTPSecurity: String, Sendable, CaseIterable {
    /// Plain SMTP: a local MTA or a relay that trusts this host.
    case none
    /// Plain first, then TLS after STARTTLS, refusing a server that does not offer it (port 587).
    case starttls
    /// TLS from the first byte (SMTPS, port 465).
    case tls
}

/// Sends one message over SMTP (RFC 5321): greeting, EHLO, optionally STARTTLS (RFC 3207)
/// and AUTH PLAIN or LOGIN (RFC 4954), MAIL FROM, RCPT TO, DATA, QUIT.
///
/// Spoken over SwiftNIO, so it blocks no thread: the TLS handler goes first in the pipeline
/// when the connection starts (`tls`) or once the server has agreed to STARTTLS.
struct SMTPClient: Sendable {
    var host: String
    var port: Int
    var security: SMTPSecurity = .none
    /// The login, sent only over TLS.
    var username: String?
    var password: String?
    /// PEM roots to verify the server with instead of the system's.
    var caFile: String?
    var timeout: Duration = .seconds(30)

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Sends `body` (text) with `subject` from `from` to every address of `to`, within `timeout`.
    func send(from: String, to: [String], subject: String, body: String) async throws(Failure) {
        let message = Self.message(from: from, to: to, subject: subject, body: body)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await self.converse(from: from, to: to, message: message) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw Failure(description: "SMTP server \(host):\(port) did not finish within \(timeout)")
                }
                try await group.next()
                group.cancelAll()
            }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(description: "SMTP server \(host):\(port): \(DeliveryErrorText.describe(error))")
        }
    }

    private func converse(from: String, to: [String], message: String) async throws {
        let tls = try security == .none ? nil : tlsContext()
        // SNI and name checks take a name; an address literal is checked against the peer's address.
        let serverName = (try? SocketAddress(ipAddress: host, port: 0)) == nil ? host : nil
        let (channel, handshake) = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handshake = security == .tls && tls != nil
                        ? try Self.startTLS(channel, tls!, serverName: serverName) : channel.eventLoop.makeSucceededVoidFuture()
                    return (try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel), handshake)
                }
            }
        try await handshake.get()
        try await channel.executeThenClose { inbound, outbound in
            var session = Session(replies: ReplyReader(inbound.makeAsyncIterator()), outbound: outbound, server: "\(host):\(port)")
            try await session.expect(220, "greeting")
            var capabilities = try await session.hello()
            if security == .starttls, let tls {
                guard capabilities.contains("STARTTLS") else {
                    throw Failure(description: "SMTP server \(host):\(port) does not offer STARTTLS (alerts.smtp.security is starttls)")
                }
                try await session.command("STARTTLS")
                try await session.expect(220, "STARTTLS")
                try await channel.channel.eventLoop.submit {
                    try Self.startTLS(channel.channel, tls, serverName: serverName)
                }.get().get()
                capabilities = try await session.hello()
            }
            if let username {
                try await session.authenticate(username: username, password: password ?? "", capabilities: capabilities)
            }
            try await session.command("MAIL FROM:<\(from)>")
            try await session.expect(250, "MAIL FROM")
            for address in to {
                try await session.command("RCPT TO:<\(address)>")
                try await session.expect(250, "RCPT TO \(address)")
            }
            try await session.command("DATA")
            try await session.expect(354, "DATA")
            try await outbound.write(ByteBuffer(string: message))
            try await session.expect(250, "the message")
            try? await session.command("QUIT")
        }
    }

    /// Puts TLS first in the pipeline; the future completes with the handshake, so that a refused
    /// certificate is reported as that rather than as the next write finding the channel closed.
    private static func startTLS(_ channel: any Channel, _ context: NIOSSLContext, serverName: String?) throws -> EventLoopFuture<Void> {
        let handshake = channel.eventLoop.makePromise(of: Void.self)
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(TLSHandshakeWaiter(handshake), position: .first)
        try pipeline.addHandler(NIOSSLClientHandler(context: context, serverHostname: serverName), position: .first)
        return handshake.futureResult
    }

    /// Completes its promise when the TLS handshake ends, either way; passes everything on.
    final class TLSHandshakeWaiter: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        private let handshake: EventLoopPromise<Void>
        private var done = false

        init(_ handshake: EventLoopPromise<Void>) {
            self.handshake = handshake
        }

        private func finish(_ result: Result<Void, any Error>) {
            guard !done else { return }
            done = true
            handshake.completeWith(result)
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case .handshakeCompleted? = event as? TLSUserEvent { finish(.success(())) }
            context.fireUserInboundEventTriggered(event)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            finish(.failure(error))
            context.fireErrorCaught(error)
        }

        func channelInactive(context: ChannelHandlerContext) {
            finish(.failure(Failure(description: "the SMTP server closed the connection during the TLS handshake")))
            context.fireChannelInactive()
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            finish(.failure(Failure(description: "the connection to the SMTP server ended during the TLS handshake")))
        }
    }

    private func tlsContext() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if let caFile { configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile)) }
        return try NIOSSLContext(configuration: configuration)
    }

    /// One conversation: commands out, replies in.
    struct Session {
        var replies: ReplyReader
        let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
        let server: String

        func command(_ line: String) async throws {
            try await outbound.write(ByteBuffer(string: line + "\r\n"))
        }

        /// Reads a whole reply (its continuation lines too), checks its code, returns its lines' text.
        @discardableResult
        mutating func expect(_ code: Int, _ step: String) async throws -> [String] {
            var texts: [String] = []
            while true {
                guard let line = try await replies.line() else { throw Failure(description: "no answer from the SMTP server \(server) to \(step)") }
                guard line.count >= 3, let got = Int(line.prefix(3)) else {
                    throw Failure(description: "SMTP answer to \(step) is not a reply: \(line.prefix(80))")
                }
                guard got == code else { throw Failure(description: "SMTP \(step): \(line.prefix(200))") }
                texts.append(String(line.dropFirst(4)))
                if line.count > 3, line[line.index(line.startIndex, offsetBy: 3)] == "-" { continue }
                return texts
            }
        }

        /// EHLO; the extensions the server offers, upper-cased ("STARTTLS", "AUTH PLAIN LOGIN").
        mutating func hello() async throws -> Set<String> {
            try await command("EHLO pyflare")
            return Set(try await expect(250, "EHLO").dropFirst().map { $0.uppercased() })
        }

        /// AUTH PLAIN when offered, else AUTH LOGIN; the credentials never appear in an error.
        mutating func authenticate(username: String, password: String, capabilities: Set<String>) async throws {
            let mechanisms = Set(capabilities.filter { $0.hasPrefix("AUTH") }
                .flatMap { $0.dropFirst(4).split(whereSeparator: { $0 == " " || $0 == "=" }).map(String.init) })
            func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }
            if mechanisms.contains("PLAIN") {
                try await command("AUTH PLAIN " + base64("\0\(username)\0\(password)"))
                try await expect(235, "AUTH PLAIN")
            } else if mechanisms.contains("LOGIN") {
                try await command("AUTH LOGIN")
                try await expect(334, "AUTH LOGIN")
                try await command(base64(username))
                try await expect(334, "AUTH LOGIN (user name)")
                try await command(base64(password))
                try await expect(235, "AUTH LOGIN (password)")
            } else {
                throw Failure(description: "SMTP server \(server) offers no AUTH PLAIN or LOGIN"
                              + (mechanisms.isEmpty ? "" : " (it offers \(mechanisms.sorted().joined(separator: ", ")))"))
            }
        }
    }

    /// CRLF-terminated lines from the channel's byte chunks.
    struct ReplyReader {
        var chunks: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
        var buffer: [UInt8] = []

        init(_ chunks: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator) {
            self.chunks = chunks
        }

        mutating func line() async throws -> String? {
            while true {
                if let end = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    var line = Array(buffer[..<end])
                    buffer.removeSubrange(...end)
                    if line.last == UInt8(ascii: "\r") { line.removeLast() }
                    return String(decoding: line, as: UTF8.self)
                }
                guard buffer.count < 1 << 20, let chunk = try await chunks.next() else { return nil }
                buffer += chunk.readableBytesView
            }
        }
    }

    /// Headers and body, lines ending in CRLF, a leading dot doubled, then the lone dot.
    static func message(from: String, to: [String], subject: String, body: String) -> String {
        let date = Date().formatted(.dateTime.locale(Locale(identifier: "en_US_POSIX")))
        var lines = ["From: \(from)", "To: \(to.joined(separator: ", "))", "Subject: \(headerText(subject))", "Date: \(date)",
                     "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", ""]
        for line in body.split(separator: "\n", omittingEmptySubsequences: false) {
            let text = line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
            lines.append(text.hasPrefix(".") ? "." + text : text)
        }
        return lines.joined(separator: "\r\n") + "\r\n.\r\n"
    }

    /// A subject with non-ASCII text as an RFC 2047 encoded word; no line breaks in any case.
    static func headerText(_ text: String) -> String {
        let flat = text.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        guard flat.utf8.contains(where: { $0 >= 0x80 }) else { return flat }
        return "=?utf-8?B?\(Data(flat.utf8).base64EncodedString())?="
    }
}
