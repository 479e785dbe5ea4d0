import Foundation
import PyFlareTesting
import PyFlareWire
import Testing
@testable import PyFlareAnalytics

/// Schedules: what parses and the errors of what does not, aligned intervals, and cron's next
/// runs across month and year ends, leap days and its day rules, against Foundation's calendar.
struct JobScheduleTests {
    static let minute: Int64 = 60_000_000_000

    /// Unix nanoseconds of `2025-06-01T12:30` or `2025-06-01T12:30:15` (UTC).
    static func time(_ text: String) -> Int64 {
        Int64(RFC3339.nanoseconds(text + (text.count == 16 ? ":00Z" : "Z"))!)
    }

    /// The next run of `schedule` after `after` as `2025-06-01T12:30`, checked to fall on a whole minute.
    func next(_ schedule: String, after: String) throws -> String {
        let run = try JobSchedule.parse(schedule).nextRun(after: Self.time(after))
        #expect(run > Self.time(after) && run % Self.minute == 0)
        return String(RFC3339.string(UInt64(run)).prefix(16))
    }

    /// The next `count` runs of `schedule` after `after`.
    func runs(_ schedule: String, after: String, count: Int) throws -> [String] {
        let parsed = try JobSchedule.parse(schedule)
        var time = Self.time(after)
        return (0..<count).map { _ in
            time = parsed.nextRun(after: time)
            return String(RFC3339.string(UInt64(time)).prefix(16))
        }
    }

    @Test func schedulesParseAndDescribeThemselves() throws {
        #expect(try JobSchedule.parse("every 30s") == .every(seconds: 30))
        #expect(try JobSchedule.parse("every 5m") == .every(seconds: 300))
        #expect(try JobSchedule.parse("  EVERY   2H ") == .every(seconds: 7_200))
        #expect(try JobSchedule.parse("every 1d") == .every(seconds: 86_400))
        #expect(try JobSchedule.parse("every 60s").description == "every 1m")
        #expect(try JobSchedule.parse("every 90s").description == "every 90s")
        #expect(try JobSchedule.parse("every 1440m").description == "every 1d")
        #expect(try JobSchedule.parse(" */15  9-17 * JAN-Mar Mon-FRI ").description == "*/15 9-17 * jan-mar mon-fri")
        #expect(try JobSchedule.parse("@Daily").description == "@daily")
    }

    @Test(arguments: [
        ("", "the schedule is empty"),
        ("61 * * * *", "minute field '61' is out of range 0-59"),
        ("* 24 * * *", "hour field '24' is out of range 0-23"),
        ("* * 0 * *", "day-of-month field '0' is out of range 1-31"),
        ("* * * 13 *", "month field '13' is out of range 1-12"),
        ("* * * * 8", "day-of-week field '8' is out of range 0-7"),
        ("0 0 1,99999999999999999999 * *", "day-of-month field '99999999999999999999' is out of range 1-31"),
        ("* * * foo *", "month field 'foo' is not a number or a name (jan-dec)"),
        ("* * * * mon-funday", "day-of-week field 'funday' is not a number or a name (sun-sat)"),
        ("x * * * *", "minute field 'x' is not a number"),
        ("1,,2 * * * *", "minute field '' is not a number"),
        ("*/0 * * * *", "minute field '*/0' has step '0'; a step is a whole number from 1"),
        ("5-2 * * * *", "minute field '5-2' is a range that goes backwards"),
        ("* * * * fri-mon", "day-of-week field 'fri-mon' is a range that goes backwards"),
        ("5/10 * * * *", "minute field '5/10' steps from a single value; write a range, as in '5-59/10'"),
        ("1-2-3 * * * *", "minute field '1-2-3' has more than one '-'"),
        ("*/2/3 * * * *", "minute field '*/2/3' has more than one '/'"),
        ("* * * *", "'* * * *' has 4 fields; a cron expression has 5"),
        ("* * * * * *", "has 6 fields"),
        ("@reboot", "unknown schedule '@reboot'"),
        ("every", "'every' takes one interval"),
        ("every 5 m", "'every' takes one interval"),
        ("every 0s", "interval '0s' is shorter than the shortest, 1s"),
        ("every 500ms", "interval '500ms' is not a whole number of seconds, minutes, hours or days"),
        ("every 1.5h", "interval '1.5h' is not a whole number"),
        ("every 5", "interval '5' is not a whole number"),
        ("every -5m", "interval '-5m' is not a whole number"),
        ("every 999999999999d", "interval '999999999999d' is longer than the longest"),
        ("0 0 31 2 *", "'0 0 31 2 *' never runs"),
        ("0 0 30 feb *", "never runs"),
        ("0 0 31 4,6,9,11 *", "never runs"),
    ])
    func badSchedulesSayWhatIsWrong(_ text: String, _ message: String) {
        do {
            let schedule = try JobSchedule.parse(text)
            Issue.record("parsed '\(text)' as \(schedule)")
        } catch {
            #expect(error.message.contains(message), "\(text): \(error.message)")
            #expect(error.description == error.message)
        }
    }

    @Test func intervalsAreAlignedOnTheEpoch() throws {
        #expect(try next("every 1h", after: "2025-06-01T10:17:33") == "2025-06-01T11:00")
        #expect(try next("every 1h", after: "2025-06-01T11:00") == "2025-06-01T12:00")
        #expect(try next("every 1d", after: "2025-12-31T23:59:59") == "2026-01-01T00:00")
        #expect(try next("every 15m", after: "2025-06-01T10:44:59") == "2025-06-01T10:45")
        let seven = JobSchedule.every(seconds: 7)
        #expect(seven.nextRun(after: 100_000_000_000) == 105_000_000_000)
        #expect(seven.nextRun(after: 104_999_999_999) == 105_000_000_000)
        #expect(seven.nextRun(after: 105_000_000_000) == 112_000_000_000)
        // Before the epoch too, and no overflow at the end of time.
        #expect(JobSchedule.every(seconds: 60).nextRun(after: -1) == 0)
        #expect(JobSchedule.every(seconds: 60).nextRun(after: -60_000_000_000) == 0)
        #expect(JobSchedule.every(seconds: 60).nextRun(after: -60_000_000_001) == -60_000_000_000)
        #expect(JobSchedule.every(seconds: 3_600).nextRun(after: .max - 1) == .max)
        #expect(try JobSchedule.parse("@yearly").nextRun(after: .max - 1) == .max)
    }

    @Test func cronRunsCrossMonthAndYearEnds() throws {
        #expect(try next("0 0 1 * *", after: "2025-01-31T12:00") == "2025-02-01T00:00")
        #expect(try next("30 23 31 * *", after: "2025-04-01T00:00") == "2025-05-31T23:30")
        #expect(try next("59 23 31 12 *", after: "2025-12-31T23:59") == "2026-12-31T23:59")
        #expect(try next("0 0 * * *", after: "2025-12-31T23:59:59") == "2026-01-01T00:00")
        #expect(try runs("0 12 30 * *", after: "2025-01-01T00:00", count: 3) == ["2025-01-30T12:00", "2025-03-30T12:00", "2025-04-30T12:00"])
        // Before the epoch: from 1969-12-29 to Wednesday 1969-12-31T06:00.
        #expect(try JobSchedule.parse("0 6 * * wed").nextRun(after: -259_200_000_000_000) == -64_800_000_000_000)
    }

    @Test func leapDaysComeEveryFourYearsButNotIn2100() throws {
        #expect(try next("0 0 29 2 *", after: "2025-03-01T00:00") == "2028-02-29T00:00")
        #expect(try next("0 0 29 2 *", after: "2028-02-29T00:00") == "2032-02-29T00:00")
        #expect(try next("0 0 29 2 *", after: "2096-03-01T00:00") == "2104-02-29T00:00")
        #expect(try next("0 0 1 3 *", after: "2028-02-28T12:00") == "2028-03-01T00:00")
        #expect(try next("0 0 * * *", after: "2028-02-28T12:00") == "2028-02-29T00:00")
    }

    @Test func restrictedDayFieldsMatchEitherAndStarredOnesBoth() throws {
        // 2025-06-02, 09, 16 and 23 are Mondays; the 15th is a Sunday.
        #expect(try runs("0 12 15 * mon", after: "2025-06-01T00:00", count: 4)
            == ["2025-06-02T12:00", "2025-06-09T12:00", "2025-06-15T12:00", "2025-06-16T12:00"])
        // `*/2` starts with `*`: odd days that are also Mondays, as in Vixie cron.
        #expect(try runs("0 12 */2 * mon", after: "2025-06-01T00:00", count: 2) == ["2025-06-09T12:00", "2025-06-23T12:00"])
        #expect(try runs("0 12 * * 1", after: "2025-06-01T00:00", count: 2) == ["2025-06-02T12:00", "2025-06-09T12:00"])
        // A leap day or a Monday, in February only: 2026-02-02 is its first Monday.
        #expect(try next("0 0 29 2 mon", after: "2025-03-01T00:00") == "2026-02-02T00:00")
    }

    @Test func stepsListsNamesAndShorthands() throws {
        #expect(try runs("*/15 * * * *", after: "2025-06-01T10:07", count: 4)
            == ["2025-06-01T10:15", "2025-06-01T10:30", "2025-06-01T10:45", "2025-06-01T11:00"])
        #expect(try runs("10-40/15 8,20 * * *", after: "2025-06-01T08:10", count: 4)
            == ["2025-06-01T08:25", "2025-06-01T08:40", "2025-06-01T20:10", "2025-06-01T20:25"])
        // Friday 2025-01-31, then the first weekday of July.
        #expect(try next("0 9 * jan,JUL Mon-Fri", after: "2025-01-31T10:00") == "2025-07-01T09:00")
        for sunday in ["0 0 * * sun", "0 0 * * 0", "0 0 * * 7", "0 0 * * 0,7", "@weekly"] {
            #expect(try next(sunday, after: "2025-06-02T00:00") == "2025-06-08T00:00", "\(sunday)")
        }
        #expect(try next("@daily", after: "2025-03-10T05:00") == "2025-03-11T00:00")
        #expect(try next("@midnight", after: "2025-03-10T05:00") == "2025-03-11T00:00")
        #expect(try next("@hourly", after: "2025-03-10T05:00") == "2025-03-10T06:00")
        #expect(try next("@monthly", after: "2025-03-10T05:00") == "2025-04-01T00:00")
        #expect(try next("@yearly", after: "2025-03-10T05:00") == "2026-01-01T00:00")
        #expect(try next("@annually", after: "2025-03-10T05:00") == "2026-01-01T00:00")
    }

    /// Next runs against a minute-by-minute search with Foundation's calendar, from random times.
    @Test func cronAgreesWithFoundationsCalendar() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        typealias Fields = (minute: Int, hour: Int, day: Int, month: Int, weekday: Int)
        let cases: [(String, (Fields) -> Bool)] = [
            ("*/15 * * * *", { $0.minute % 15 == 0 }),
            ("0 */6 * * *", { $0.minute == 0 && $0.hour % 6 == 0 }),
            ("5 4 * * sun", { $0.minute == 5 && $0.hour == 4 && $0.weekday == 0 }),
            ("30 2 * * mon-fri", { $0.minute == 30 && $0.hour == 2 && (1...5).contains($0.weekday) }),
            ("0 12 13 * fri", { $0.minute == 0 && $0.hour == 12 && ($0.day == 13 || $0.weekday == 5) }),
            ("17 9-17/4 * * *", { $0.minute == 17 && [9, 13, 17].contains($0.hour) }),
            ("0 0 28-31 * *", { $0.minute == 0 && $0.hour == 0 && $0.day >= 28 }),
        ]
        var random = SeededGenerator(seed: 11)
        for (text, matches) in cases {
            let schedule = try JobSchedule.parse(text)
            for _ in 0..<3 {
                // From 1960 to 2100.
                let start = Int64.random(in: -315_619_200...4_102_444_800, using: &random) * 1_000_000_000 + 123
                var minute = (start >= 0 ? start / Self.minute : (start + 1) / Self.minute - 1) + 1
                while true {
                    let date = calendar.dateComponents([.minute, .hour, .day, .month, .weekday],
                                                       from: Date(timeIntervalSince1970: Double(minute * 60)))
                    if matches((date.minute!, date.hour!, date.day!, date.month!, date.weekday! - 1)) { break }
                    minute += 1
                }
                #expect(schedule.nextRun(after: start) == minute * Self.minute, "\(text) after \(start)")
            }
        }
    }
}
