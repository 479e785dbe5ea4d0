import Foundation
import NIOSSL

/// What a failed notification says about why, as the API and the UI show it: the reason, and
/// never a source path of the TLS library (BoringSSL's errors name the file and line they
/// were raised at).
enum DeliveryErrorText {
    static func describe(_ error: any Error) -> String {
        if case NIOSSLError.handshakeFailed(let failure)? = error as? NIOSSLError {
            let reasons = reasonCodes(in: "\(failure)")
            return "the TLS handshake failed" + (reasons.isEmpty ? "" : ": " + reasons.joined(separator: ", "))
                + (reasons.contains("CERTIFICATE_VERIFY_FAILED") ? " (the certificate is not signed by a trusted CA)" : "")
        }
        return withoutPaths("\(error)")
    }

    /// BoringSSL's reason codes (`…:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED at …`).
    static func reasonCodes(in text: String) -> [String] {
        text.matches(of: /OPENSSL_internal:([A-Z0-9_]+)/).map { String($0.output.1) }
    }

    /// `text` with every absolute file path (and its `:line`) cut out; a URL's path stays.
    static func withoutPaths(_ text: String) -> String {
        text.replacing(/\sat \/[^\s\]\)]*/, with: "")
            .replacing(/(^|[\s"'(\[=])\/(?:[\w.+-]+\/)+[\w.+-]+(?::\d+)?/) { "\($0.output.1)…" }
    }
}
