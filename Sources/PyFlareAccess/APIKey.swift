import Crypto
import Foundation
import PyFlareWire

/// An API key: `pfk_` + an 8-character public id + a 32-character secret, base62.
///
/// The id names the key in lists and revocations; only the SHA-256 of the whole key is
/// stored. A key is 40 random base62 characters (≈ 238 bits), so a plain hash is enough: no
/// slow hash is needed against guessing, unlike a password.
public struct APIKey: Sendable, Equatable {
    public static let marker = "pfk_"
    static let idLength = 8
    static let secretLength = 32
    static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
    /// Whether each byte value is in ``alphabet``: checked for every request's key.
    static let inAlphabet: [Bool] = (0..<256).map { alphabet.contains(UInt8($0)) }

    /// The whole key, shown once.
    public let text: String

    public var id: String { String(text.dropFirst(Self.marker.count).prefix(Self.idLength)) }
    /// What lists show: `pfk_` and the id.
    public var prefix: String { Self.marker + id }

    init(text: String) {
        self.text = text
    }

    /// A new key from the system's random generator.
    public static func generate() -> APIKey {
        var generator = SystemRandomNumberGenerator()
        var characters: [UInt8] = []
        characters.reserveCapacity(idLength + secretLength)
        while characters.count < idLength + secretLength {
            // Rejection sampling: 62 does not divide 256, and a modulo would favour the first characters.
            let byte = UInt8.random(in: 0...255, using: &generator)
            if byte < 248 { characters.append(alphabet[Int(byte % 62)]) }
        }
        return APIKey(text: marker + String(decoding: characters, as: UTF8.self))
    }

    /// The key in a request's text, if it has the shape of one (anything else cannot match a key
    /// and is refused without a lookup).
    public static func parse(_ text: String) -> APIKey? {
        let bytes = Array(text.utf8)
        guard bytes.count == marker.utf8.count + idLength + secretLength, text.hasPrefix(marker),
              bytes.dropFirst(marker.utf8.count).allSatisfy({ inAlphabet[Int($0)] }) else { return nil }
        return APIKey(text: text)
    }

    /// The SHA-256 of the key, lowercase hex: what `access.db` keeps.
    public var hash: String {
        Hex.string(bytes: SHA256.hash(data: Array(text.utf8)))
    }

    /// Compares two hashes in time that depends only on their length.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for index in x.indices { difference |= x[index] ^ y[index] }
        return difference == 0
    }
}
