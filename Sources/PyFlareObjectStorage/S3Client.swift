import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import PyFlareWire

/// Where and as whom objects are written: an S3-compatible endpoint, addressed path-style
/// (`endpoint/bucket/key`, which every S3-compatible server answers). An empty endpoint is
/// "no bucket" (``isConfigured``), as the configuration reads it.
public struct S3Settings: Sendable, Equatable {
    /// `https://s3.eu-west-1.amazonaws.com`, `http://127.0.0.1:8333`, …
    public var endpoint: String
    public var region: String
    public var bucket: String
    /// Prepended to every key (`exports/pyflare/`); empty for none.
    public var prefix: String
    public var accessKeyID: String
    public var secretAccessKey: String

    public var isConfigured: Bool { !endpoint.isEmpty }

    public init(endpoint: String = "", region: String = "us-east-1", bucket: String = "", prefix: String = "",
                accessKeyID: String = "", secretAccessKey: String = "") {
        self.endpoint = endpoint
        self.region = region
        self.bucket = bucket
        self.prefix = prefix
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
    }
}

/// An S3 request that failed: the operation, the key, and what the server said (its error
/// code and message), never the credentials.
public struct ObjectStorageError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var key: String
    public var status: Int?
    public var message: String

    public var description: String {
        "\(operation) s3 object \(key): " + (status.map { "HTTP \($0): " } ?? "") + message
    }
}

/// The few S3 calls PyFlare makes, signed with Signature V4 over AsyncHTTPClient.
public struct S3Client: Sendable {
    public let settings: S3Settings
    private let signer: SignatureV4
    private let client: HTTPClient
    /// Responses larger than this are refused (an object of a segment or a Parquet file is far smaller).
    static let maxResponseBytes = 1 << 30

    public init(settings: S3Settings, client: HTTPClient = .shared) {
        self.settings = settings
        signer = SignatureV4(accessKeyID: settings.accessKeyID, secretAccessKey: settings.secretAccessKey, region: settings.region)
        self.client = client
    }

    /// The full key of `name` under the prefix.
    public func key(_ name: String) -> String {
        guard !settings.prefix.isEmpty else { return name }
        return settings.prefix.hasSuffix("/") ? settings.prefix + name : settings.prefix + "/" + name
    }

    /// Writes `body` as `name` and checks the server stored exactly it: the ETag of a
    /// single-part upload is the MD5 of the bytes. Returns that ETag.
    @discardableResult
    public func put(_ name: String, body: [UInt8]) async throws(ObjectStorageError) -> String {
        let md5 = Data(Insecure.MD5.hash(data: body))
        let response = try await send("PUT", name, body: body, headers: [("Content-MD5", md5.base64EncodedString())])
        let expected = Hex.string(bytes: md5)
        let etag = response.etag
        guard etag == expected else {
            throw ObjectStorageError(operation: "PUT", key: key(name), status: response.status,
                                     message: "the server stored other bytes (ETag \(etag ?? "none"), expected \(expected))")
        }
        return expected
    }

    /// The size and ETag of `name`, or nil when there is no such object.
    public func head(_ name: String) async throws(ObjectStorageError) -> (bytes: Int, etag: String?)? {
        let response = try await send("HEAD", name, allowMissing: true)
        guard response.status != 404 else { return nil }
        return (response.contentLength ?? 0, response.etag)
    }

    /// The bytes of `name` (within `range` when given), or nil when there is no such object.
    public func get(_ name: String, range: Range<Int>? = nil) async throws(ObjectStorageError) -> [UInt8]? {
        let headers = range.map { [("Range", "bytes=\($0.lowerBound)-\($0.upperBound - 1)")] } ?? []
        let response = try await send("GET", name, headers: headers, allowMissing: true)
        return response.status == 404 ? nil : response.body
    }

    /// Bytes of `name` read from a thread that may block (a segment read on the store's
    /// threads), never from an event loop or a task: the request runs on the HTTP client's
    /// own event loops, so a waiting thread of any pool cannot hold it up. Nil when there is
    /// no such object.
    public func getBlocking(_ name: String, _ range: ObjectRange) throws(ObjectStorageError) -> ObjectBytes? {
        let signed = try sign("GET", name, headers: [("Range", range.headerValue)])
        do {
            var request = try HTTPClient.Request(url: signed.url, method: .GET)
            request.headers = signed.headers
            let response = try client.execute(request: request, deadline: .now() + .seconds(60)).wait()
            let status = Int(response.status.code)
            let bytes = response.body.map { Array($0.readableBytesView) } ?? []
            if status == 404 { return nil }
            guard status == 206 || status == 200 else {
                throw ObjectStorageError(operation: "GET", key: signed.key, status: status, message: Self.errorText(bytes) ?? response.status.reasonPhrase)
            }
            if status == 200 {
                // The whole object (a server may ignore the range): keep what was asked for.
                let start = min(range.start(in: bytes.count), bytes.count)
                let end = if case .bytes(let wanted) = range { min(wanted.upperBound, bytes.count) } else { bytes.count }
                return ObjectBytes(bytes: Array(bytes[start..<max(start, end)]), offset: start, objectSize: bytes.count)
            }
            // `Content-Range: bytes 0-99/1234`
            let total = response.headers.first(name: "Content-Range").flatMap { $0.split(separator: "/").last.flatMap { Int($0) } } ?? bytes.count
            let start = if case .bytes(let wanted) = range { wanted.lowerBound } else { total - bytes.count }
            return ObjectBytes(bytes: bytes, offset: start, objectSize: total)
        } catch let error as ObjectStorageError {
            throw error
        } catch {
            throw ObjectStorageError(operation: "GET", key: signed.key, message: "\(error)")
        }
    }

    /// Removes `name`; an object already gone is not an error.
    public func delete(_ name: String) async throws(ObjectStorageError) {
        _ = try await send("DELETE", name, allowMissing: true)
    }

    struct Response {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]
        var etag: String? { headers.first(name: "ETag").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) } }
        var contentLength: Int? { headers.first(name: "Content-Length").flatMap { Int($0) } }
    }

    /// A request's URL and its signed headers (all but `host`, which the client sets).
    private struct SignedRequest {
        var key: String
        var url: String
        var headers: HTTPHeaders
    }

    private func sign(_ method: String, _ name: String, body: [UInt8] = [], headers extra: [(String, String)]) throws(ObjectStorageError) -> SignedRequest {
        let objectKey = key(name)
        let path = "/" + settings.bucket + "/" + objectKey
        guard let base = URL(string: settings.endpoint), let host = base.host else {
            throw ObjectStorageError(operation: method, key: objectKey, message: "the endpoint \(settings.endpoint) is not a URL")
        }
        let hostHeader = base.port.map { "\(host):\($0)" } ?? host
        let payloadHash = body.isEmpty ? SignatureV4.emptyPayloadHash : SignatureV4.payloadHash(body)
        var toSign = [("host", hostHeader)] + extra
        if !body.isEmpty || method == "PUT" { toSign.append(("content-length", String(body.count))) }
        var headers = HTTPHeaders()
        for (name, value) in toSign where name != "host" { headers.add(name: name, value: value) }
        for (name, value) in signer.sign(method: method, path: path, headers: toSign, payloadHash: payloadHash) {
            headers.add(name: name, value: value)
        }
        return SignedRequest(key: objectKey, url: settings.endpoint.trimmingSuffix("/") + SignatureV4.uriEncode(path, slash: false), headers: headers)
    }

    private func send(_ method: String, _ name: String, body: [UInt8] = [], headers extra: [(String, String)] = [],
                      allowMissing: Bool = false) async throws(ObjectStorageError) -> Response {
        let signed = try sign(method, name, body: body, headers: extra)
        let objectKey = signed.key
        var request = HTTPClientRequest(url: signed.url)
        request.method = HTTPMethod(rawValue: method)
        request.headers = signed.headers
        if method == "PUT" { request.body = .bytes(ByteBuffer(bytes: body)) }
        do {
            let response = try await client.execute(request, timeout: .seconds(60))
            var collected = try await response.body.collect(upTo: Self.maxResponseBytes)
            let bytes = collected.readBytes(length: collected.readableBytes) ?? []
            let status = Int(response.status.code)
            if (200..<300).contains(status) || (allowMissing && status == 404) {
                return Response(status: status, headers: response.headers, body: bytes)
            }
            throw ObjectStorageError(operation: method, key: objectKey, status: status, message: Self.errorText(bytes) ?? response.status.reasonPhrase)
        } catch let error as ObjectStorageError {
            throw error
        } catch {
            throw ObjectStorageError(operation: method, key: objectKey, message: "\(error)")
        }
    }

    /// `Code: Message` of an S3 XML error body.
    static func errorText(_ body: [UInt8]) -> String? {
        let text = String(decoding: body, as: UTF8.self)
        func element(_ name: String) -> String? {
            guard let start = text.range(of: "<\(name)>"), let end = text.range(of: "</\(name)>", range: start.upperBound..<text.endIndex) else { return nil }
            return String(text[start.upperBound..<end.lowerBound])
        }
        guard let code = element("Code") else { return nil }
        return element("Message").map { "\(code): \($0)" } ?? code
    }
}

/// Which bytes of an object a ranged GET asks for.
public enum ObjectRange: Sendable, Equatable {
    case bytes(Range<Int>)
    /// The last `n` bytes (or the whole object when it is shorter): a file's trailer and
    /// footer in one request, without knowing its size.
    case last(Int)

    var headerValue: String {
        switch self {
        case .bytes(let range): "bytes=\(range.lowerBound)-\(range.upperBound - 1)"
        case .last(let count): "bytes=-\(count)"
        }
    }

    func start(in size: Int) -> Int {
        switch self {
        case .bytes(let range): range.lowerBound
        case .last(let count): max(0, size - count)
        }
    }
}

/// Bytes a ranged GET returned: where they start in the object, and its whole size.
public struct ObjectBytes: Sendable {
    public var bytes: [UInt8]
    public var offset: Int
    public var objectSize: Int
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
