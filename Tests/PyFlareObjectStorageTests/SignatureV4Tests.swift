import Foundation
import Testing
@testable import PyFlareObjectStorage

/// Signature V4 against the worked example of the S3 API reference ("GET Object" with a
/// range, example credentials, 24 May 2013): the same canonical request must give the same signature.
struct SignatureV4Tests {
    let signer = SignatureV4(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region: "us-east-1")
    let date = Date(timeIntervalSince1970: 1_369_353_600)  // 2013-05-24T00:00:00Z

    @Test func theReferenceGetObjectExampleIsSignedAsPublished() {
        let headers = signer.sign(method: "GET", path: "/test.txt", headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9")],
                                  payloadHash: SignatureV4.emptyPayloadHash, date: date)
        let authorization = headers.first { $0.0 == "Authorization" }?.1
        #expect(authorization == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(headers.first { $0.0 == "x-amz-date" }?.1 == "20130524T000000Z")
        #expect(SignatureV4.emptyPayloadHash == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func pathsAndQueriesAreEncodedAsS3Expects() {
        #expect(SignatureV4.uriEncode("/bucket/kind=spans/date=2026-12-07/a b+c.parquet", slash: false)
            == "/bucket/kind%3Dspans/date%3D2026-12-07/a%20b%2Bc.parquet")
        #expect(SignatureV4.uriEncode("a/b~_.-", slash: true) == "a%2Fb~_.-")
        #expect(SignatureV4.uriEncode("é", slash: true) == "%C3%A9")
    }

    @Test func anotherSecretGivesAnotherSignature() {
        let other = SignatureV4(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "other", region: "us-east-1")
        let a = signer.sign(method: "GET", path: "/x", headers: [("host", "h")], payloadHash: SignatureV4.emptyPayloadHash, date: date)
        let b = other.sign(method: "GET", path: "/x", headers: [("host", "h")], payloadHash: SignatureV4.emptyPayloadHash, date: date)
        #expect(a.last?.1 != b.last?.1)
    }

    @Test func s3ErrorBodiesAreReadForTheirCodeAndMessage() {
        let body = Array("<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Access Denied.</Message></Error>".utf8)
        #expect(S3Client.errorText(body) == "AccessDenied: Access Denied.")
        #expect(S3Client.errorText(Array("not xml".utf8)) == nil)
    }
}
