/// A name pattern where `*` stands for any run of characters (also none) and `?` for exactly
/// one; every other character stands for itself, and the whole name must match.
struct Glob: Sendable, Equatable {
    private let pattern: [Unicode.Scalar]

    init(_ pattern: String) {
        self.pattern = Array(pattern.unicodeScalars)
    }

    /// True when the pattern has no wildcard, so it names one metric.
    var isLiteral: Bool { !pattern.contains("*") && !pattern.contains("?") }

    /// Linear in practice: on a mismatch it only goes back to just after the last `*`.
    func matches(_ name: String) -> Bool {
        let text = Array(name.unicodeScalars)
        var p = 0, t = 0
        var star: Int?, starText = 0
        while t < text.count {
            if p < pattern.count, pattern[p] == "*" {
                star = p
                starText = t
                p += 1
            } else if p < pattern.count, pattern[p] == "?" || pattern[p] == text[t] {
                p += 1
                t += 1
            } else if let star {
                // Let the last `*` take one more character and try again from there.
                p = star + 1
                starText += 1
                t = starText
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == "*" { p += 1 }
        return p == pattern.count
    }
}
