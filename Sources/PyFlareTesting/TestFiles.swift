import Foundation

// Files for tests: read and written whole, searched, and the OTLP fixtures every test target
// shares (`Tests/PyFlareWireTests/Fixtures`, read from the source tree).

/// The time test payloads start at (2023-11-14T22:13:20Z), in unix nanoseconds.
public let baseTime: UInt64 = 1_700_000_000_000_000_000

public func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

public func readFile(_ path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}

public func fileExists(_ path: String) -> Bool {
    FileManager.default.fileExists(atPath: path)
}

/// Whether `needle` occurs in `haystack` (an empty needle always does).
public func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard !needle.isEmpty, haystack.count >= needle.count else { return needle.isEmpty }
    for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
        if haystack[start..<(start + needle.count)].elementsEqual(needle) { return true }
    }
    return false
}

/// The protobuf and JSON OTLP fixtures of the decoder tests, with their `*.expected.json`.
public enum WireFixtures {
    public static var directory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Tests/PyFlareWireTests/Fixtures")
    }

    public static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    public static func bytes(_ name: String) throws -> [UInt8] {
        try readFile(url(name).path)
    }
}
