/// The scalar fields of one span as a decoder collects them, before the span is appended.
struct SpanFields {
    var traceID = TraceID.zero
    var spanID: UInt64 = 0
    var parentSpanID: UInt64 = 0
    var traceState = StringRef.empty
    var flags: UInt32 = 0
    var name = StringRef.empty
    var kind: UInt8 = 0
    var startTime: UInt64 = 0
    var endTime: UInt64 = 0
    var droppedAttributes: UInt32 = 0
    var droppedEvents: UInt32 = 0
    var droppedLinks: UInt32 = 0
    var statusCode: UInt8 = 0
    var statusMessage = StringRef.empty
}

/// Helpers both span decoders use while they append spans.
extension SpanBatch {
    /// Appends a decoded span whose attribute, event and link rows start at `rollback`'s counts;
    /// refuses it instead (dropping its rows) if its trace or span id is empty or all zero.
    mutating func appendSpan(_ span: SpanFields, scopeIndex: Int, since rollback: RollbackPoint, at offset: Int, idNames: (trace: String, span: String)) {
        if span.traceID.isZero || span.spanID == 0 {
            // Invalid per the trace API spec, but not malformed: refuse this span, keep the rest.
            rollBack(to: rollback)
            rejectSpan("span at byte \(offset) has an empty or all-zero \(span.traceID.isZero ? idNames.trace : idNames.span)")
            return
        }
        // A time past what PyFlare stores would be acknowledged and then break every window
        // computed over it; refused here, the one place both decoders append through.
        if !UnixTime.isStorable(span.startTime) || !UnixTime.isStorable(span.endTime)
            || events.times[rollback.events...].contains(where: { !UnixTime.isStorable($0) }) {
            rollBack(to: rollback)
            rejectSpan("span at byte \(offset) has a time after \(UnixTime.latestText), the latest PyFlare stores")
            return
        }
        traceIDs.append(span.traceID)
        spanIDs.append(span.spanID)
        parentSpanIDs.append(span.parentSpanID)
        traceStates.append(span.traceState)
        flags.append(span.flags)
        names.append(span.name)
        kinds.append(span.kind)
        startTimes.append(span.startTime)
        endTimes.append(span.endTime)
        spanAttributes.append(attributeRows(since: rollback.attributes))
        droppedAttributeCounts.append(span.droppedAttributes)
        spanEvents.append(RowRange(start: rollback.events, count: events.count - rollback.events))
        droppedEventCounts.append(span.droppedEvents)
        spanLinks.append(RowRange(start: rollback.links, count: links.count - rollback.links))
        droppedLinkCounts.append(span.droppedLinks)
        statusCodes.append(span.statusCode)
        statusMessages.append(span.statusMessage)
        scopeIndices.append(UInt32(scopeIndex))
    }

    /// Appends an event whose attributes are the ``eventAttributes`` rows from `firstAttribute` on.
    mutating func appendEvent(time: UInt64, name: StringRef, firstAttribute: Int, dropped: UInt32) {
        events.times.append(time)
        events.names.append(name)
        events.attributes.append(RowRange(start: firstAttribute, count: eventAttributes.count - firstAttribute))
        events.droppedAttributeCounts.append(dropped)
    }

    /// Appends a link whose attributes are the ``linkAttributes`` rows from `firstAttribute` on.
    mutating func appendLink(traceID: TraceID, spanID: UInt64, traceState: StringRef, firstAttribute: Int, dropped: UInt32, flags: UInt32) {
        links.traceIDs.append(traceID)
        links.spanIDs.append(spanID)
        links.traceStates.append(traceState)
        links.attributes.append(RowRange(start: firstAttribute, count: linkAttributes.count - firstAttribute))
        links.droppedAttributeCounts.append(dropped)
        links.flags.append(flags)
    }

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
        times.truncate(to: count)
        names.truncate(to: count)
        attributes.truncate(to: count)
        droppedAttributeCounts.truncate(to: count)
    }
}

extension LinkTable {
    mutating func truncate(to count: Int) {
        traceIDs.truncate(to: count)
        spanIDs.truncate(to: count)
        traceStates.truncate(to: count)
        attributes.truncate(to: count)
        droppedAttributeCounts.truncate(to: count)
        flags.truncate(to: count)
    }
}
