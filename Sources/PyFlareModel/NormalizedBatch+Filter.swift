import PyFlareWire

extension NormalizedBatch {
    /// Keeps the spans whose `keep` flag is set, in every column.
    public mutating func retain(_ keep: [Bool]) {
        spans.retain(keep)
        columns.retain(keep)
    }
}

extension AIColumns {
    mutating func retain(_ keep: [Bool]) {
        service.retain(keep)
        model.retain(keep)
        responseModel.retain(keep)
        provider.retain(keep)
        operation.retain(keep)
        kind.retain(keep)
        inputTokens.retain(keep)
        outputTokens.retain(keep)
        cacheReadTokens.retain(keep)
        cacheWriteTokens.retain(keep)
        reasoningTokens.retain(keep)
        totalTokens.retain(keep)
        costMicros.retain(keep)
        costSource.retain(keep)
        priceIndex.retain(keep)
        user.retain(keep)
        session.retain(keep)
        feature.retain(keep)
        environment.retain(keep)
    }
}
