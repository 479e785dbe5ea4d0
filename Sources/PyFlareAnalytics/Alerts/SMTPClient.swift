#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Sends one message over SMTP (RFC 5321): greeting, EHLO, MAIL FROM, RCPT TO, DATA, QUIT.
///
/// Plain SMTP to a relay the operator runs (a local MTA, a cluster's mail relay): no STARTTLS
/// or AUTH. Blocking socket calls with a timeout on every read and write, so it is run on a
/// thread of its own, never on an event loop or the cooperative pool.
struct SMTPClient {
    var host: String
    var port: Int
    var timeoutSeconds = 10

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Sends `body` (text) with `subject` from `from` to every address of `to`.
    func send(from: String, to: [String], subject: String, body: String) throws(Failure) {
        let socket = try connect()
        defer { close(socket) }
        var reader = LineReader(socket: socket)
        try expect(220, &reader, "greeting")
        try command("EHLO pyflare", socket)
        try expect(250, &reader, "EHLO")
        try command("MAIL FROM:<\(from)>", socket)
        try expect(250, &reader, "MAIL FROM")
        for address in to {
            try command("RCPT TO:<\(address)>", socket)
            try expect(250, &reader, "RCPT TO \(address)")
        }
        try command("DATA", socket)
        try expect(354, &reader, "DATA")
        try write(Self.message(from: from, to: to, subject: subject, body: body), socket)
        try expect(250, &reader, "the message")
        try? command("QUIT", socket)
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

    private func connect() throws(Failure) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var results: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &results) == 0, let first = results else {
            throw Failure(description: "cannot resolve SMTP host \(host)")
        }
        defer { freeaddrinfo(results) }
        var address: UnsafeMutablePointer<addrinfo>? = first
        while let candidate = address {
            let socket = Glibc.socket(candidate.pointee.ai_family, candidate.pointee.ai_socktype, candidate.pointee.ai_protocol)
            if socket >= 0 {
                var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
                setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                if Glibc.connect(socket, candidate.pointee.ai_addr, candidate.pointee.ai_addrlen) == 0 { return socket }
                close(socket)
            }
            address = candidate.pointee.ai_next
        }
        throw Failure(description: "cannot connect to SMTP server \(host):\(port)")
    }

    private func command(_ line: String, _ socket: Int32) throws(Failure) {
        try write(line + "\r\n", socket)
    }

    private func write(_ text: String, _ socket: Int32) throws(Failure) {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw Failure(description: "SMTP server \(host):\(port) closed the connection") }
            sent += count
        }
    }

    /// Reads a whole reply (its continuation lines too) and checks its code.
    private func expect(_ code: Int, _ reader: inout LineReader, _ step: String) throws(Failure) {
        while true {
            guard let line = reader.line() else { throw Failure(description: "no answer from the SMTP server to \(step)") }
            guard line.count >= 3, let got = Int(line.prefix(3)) else { throw Failure(description: "SMTP answer to \(step) is not a reply: \(line.prefix(80))") }
            if line.count > 3, line[line.index(line.startIndex, offsetBy: 3)] == "-" { continue }
            guard got == code else { throw Failure(description: "SMTP \(step): \(line.prefix(200))") }
            return
        }
    }

    /// CRLF-terminated lines from a socket.
    struct LineReader {
        let socket: Int32
        var buffer: [UInt8] = []

        mutating func line() -> String? {
            while true {
                if let end = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    var line = Array(buffer[..<end])
                    buffer.removeSubrange(...end)
                    if line.last == UInt8(ascii: "\r") { line.removeLast() }
                    return String(decoding: line, as: UTF8.self)
                }
                var chunk = [UInt8](repeating: 0, count: 4096)
                let count = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
                guard count > 0, buffer.count < 1 << 20 else { return nil }
                buffer += chunk[..<count]
            }
        }
    }
}
