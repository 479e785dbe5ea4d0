public import PyFlareIngest

/// The REST API's request context: the one every PyFlare listener uses.
public typealias APIRequestContext = PyFlareRequestContext
