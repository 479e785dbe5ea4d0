/// Durations written as `30s`, `5m`, `1h`, `1d`, `2w`: schedules, windows, retention ages.
public enum DurationText {
    private static let units: [(suffix: Character, seconds: Int64)] = [("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)]

    public static func nanoseconds(_ text: String) -> Int64? {
        let trimmed = text.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()
        guard let unit = trimmed.last, let count = Int64(String(trimmed.dropLast())), count > 0,
              let seconds = units.first(where: { $0.suffix == unit })?.seconds else { return nil }
        let (product, overflow) = count.multipliedReportingOverflow(by: seconds * 1_000_000_000)
        return overflow ? nil : product
    }

    /// The largest unit up to days that divides `nanoseconds` evenly: 604800 s reads `7d`, 90000 s `25h`;
    /// a duration of no whole second reads in seconds, rounded down.
    public static func text(_ nanoseconds: Int64) -> String {
        let seconds = nanoseconds / 1_000_000_000
        for unit in units.dropFirst() where seconds != 0 && seconds % unit.seconds == 0 {
            return "\(seconds / unit.seconds)\(unit.suffix)"
        }
        return "\(seconds)s"
    }
}
