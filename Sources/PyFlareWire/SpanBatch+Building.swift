/// Helpers both decoders use while they append rows.
extension SpanBatch {
    /// Table sizes before a span was decoded, to drop its rows if the span is refused.
    struct RollbackPoint {
        var attributes, eventAttributes, linkAttributes, nestedValues, events, links: Int
    }

    func rollbackPoint() -> RollbackPoint {
        RollbackPoint(attributes: attributes.count, eventAttributes: eventAttributes.count,
                      linkAttributes: linkAttributes.count, nestedValues: nestedValues.count,
                      events: events.count, links: links.count)
    }

    mutating func rollBack(to point: RollbackPoint) {
        attributes.truncate(to: point.attributes)
        eventAttributes.truncate(to: point.eventAttributes)
        linkAttributes.truncate(to: point.linkAttributes)
        nestedValues.truncate(to: point.nestedValues)
        events.truncate(to: point.events)
        links.truncate(to: point.links)
    }

    mutating func rejectSpan(_ reason: String) {
        rejectedSpanCount += 1
        if rejectionMessage == nil { rejectionMessage = reason }
    }
}

extension EventTable {
    mutating func truncate(to count: Int) {
        guard count < times.count else { return }
        times.removeSubrange(count...)
        names.removeSubrange(count...)
        attributes.removeSubrange(count...)
        droppedAttributeCounts.removeSubrange(count...)
    }
}

extension LinkTable {
    mutating func truncate(to count: Int) {
        guard count < spanIDs.count else { return }
        traceIDs.removeSubrange(count...)
        spanIDs.removeSubrange(count...)
        traceStates.removeSubrange(count...)
        attributes.removeSubrange(count...)
        droppedAttributeCounts.removeSubrange(count...)
        flags.removeSubrange(count...)
    }
}
