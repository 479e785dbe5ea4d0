import Foundation
import Testing
@testable import PyFlareWire

/// The string scanner reads plain runs eight bytes at a time: every quote, backslash and
/// control character must still be found wherever it falls in a word.
struct JSONStringScanTests {
    /// The text of the first JSON string in `json`, as the scanner reads it.
    func scan(_ json: [UInt8]) throws -> [UInt8] {
        try json.withUnsafeBytes { raw in
            var scanner = JSONScanner(base: raw)
            let ref = try scanner.readString()
            let start = Int(ref.offset), end = start + Int(ref.length)
            return start >= raw.count ? Array(scanner.extra[(start - raw.count)..<(end - raw.count)]) : Array(raw[start..<end])
        }
    }

    func encoded(_ text: String) throws -> [UInt8] {
        let data = try JSONSerialization.data(withJSONObject: [text], options: [.fragmentsAllowed])
        // `["…"]` → `"…"`
        return Array(data.dropFirst().dropLast())
    }

    @Test func everySpecialByteIsFoundAtEveryOffset() throws {
        let specials: [String] = ["\"", "\\", "\n", "\u{01}", "\u{1F}", "é", "😀", "/", "\t"]
        for length in 0..<20 {
            for position in 0...length {
                for special in specials {
                    var text = String(repeating: "a", count: length)
                    text.insert(contentsOf: special, at: text.index(text.startIndex, offsetBy: position))
                    text += String(repeating: "z", count: 9)
                    #expect(try scan(try encoded(text)) == Array(text.utf8), "\(length) \(position) \(special.debugDescription)")
                }
            }
        }
    }

    @Test func aRawControlCharacterIsRefusedWhereverItIs() {
        for position in 0..<17 {
            var bytes = Array(("\"" + String(repeating: "b", count: 17) + "\"").utf8)
            bytes[1 + position] = 0x0A
            #expect(throws: WireError.self) { try scan(bytes) }
            bytes[1 + position] = 0x5C  // a backslash then a raw newline: an invalid escape
            bytes[min(2 + position, bytes.count - 2)] = 0x0A
            #expect(throws: WireError.self) { try scan(bytes) }
        }
    }

    @Test func anUnterminatedStringIsRefused() {
        #expect(throws: WireError.self) { try scan(Array("\"abcdefghijklmnopq".utf8)) }
        #expect(throws: WireError.self) { try scan(Array("\"abc\\n defghijklmnopq".utf8)) }
        #expect(throws: WireError.self) { try scan(Array("\"abc\\".utf8)) }
    }
}
