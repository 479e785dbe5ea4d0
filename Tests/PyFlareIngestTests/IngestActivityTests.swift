import Testing
@testable import PyFlareIngest

@Suite struct IngestActivityTests {
    let minute = Int64(60_000_000_000)

    @Test func countsByMinuteAndInTotal() {
        let start = 1_000 * minute
        let activity = IngestActivity(started: start)
        activity.record(.spansAccepted, 5, now: start + 1)
        activity.record(.spansAccepted, 7, now: start + minute / 2)
        activity.record(.spansRefusedBusy, 3, now: start + minute + 1)
        activity.record(.spansAccepted, 0, now: start + minute + 2)
        let snapshot = activity.snapshot(now: start + minute + 10)
        #expect(snapshot.minutes.count == IngestActivity.minutesKept)
        #expect(snapshot.minutes.last?.start == start + minute)
        #expect(snapshot.minutes.last?.counts[.spansRefusedBusy] == 3)
        #expect(snapshot.minutes.dropLast().last?.counts[.spansAccepted] == 12)
        #expect(snapshot.total[.spansAccepted] == 12 && snapshot.total[.spansRefusedBusy] == 3)
    }

    /// A slot of the ring written an hour ago is not counted as this minute's.
    @Test func minutesOlderThanTheRingAreForgottenNotReused() {
        let start = 2_000 * minute
        let activity = IngestActivity(started: start)
        activity.record(.logRecordsAccepted, 4, now: start)
        let hourLater = start + Int64(IngestActivity.minutesKept) * minute
        #expect(activity.snapshot(now: hourLater).minutes.allSatisfy { $0.counts[.logRecordsAccepted] == 0 })
        activity.record(.logRecordsAccepted, 1, now: hourLater)
        let snapshot = activity.snapshot(now: hourLater)
        #expect(snapshot.minutes.last?.counts[.logRecordsAccepted] == 1)
        #expect(snapshot.total[.logRecordsAccepted] == 5)
    }
}
