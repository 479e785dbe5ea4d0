public import Hummingbird
public import HTTPTypes
public import PyFlareAccess

extension AccessRequest {
    /// The credentials of an HTTP request: `Authorization`, `x-api-key`, `X-PyFlare-Project` and
    /// the peer's address.
    public init(_ request: Request, clientAddress: String?) {
        self.init(authorization: request.headers[.authorization], apiKey: request.headers[HTTPField.Name.apiKey],
                  project: request.headers[HTTPField.Name.pyflareProject], clientAddress: clientAddress)
    }
}

extension HTTPField.Name {
    public static let apiKey = HTTPField.Name("x-api-key")!
    public static let pyflareProject = HTTPField.Name("x-pyflare-project")!
}
