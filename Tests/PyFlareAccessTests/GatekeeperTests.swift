import Foundation
import Testing
@testable import PyFlareAccess
import PyFlareTesting

@Suite struct APIKeyTests {
    @Test func keysHaveTheDocumentedShapeAndAreDistinct() {
        let keys = (0..<200).map { _ in APIKey.generate() }
        #expect(Set(keys.map(\.text)).count == keys.count)
        for key in keys {
            #expect(key.text.hasPrefix("pfk_"))
            #expect(key.text.count == 44)
            #expect(APIKey.parse(key.text) == key)
            #expect(key.prefix == "pfk_" + key.id)
            #expect(key.hash.count == 64)
            #expect(!key.hash.contains(key.text.dropFirst(12)))
        }
    }

    @Test func textsThatAreNotKeysAreNotParsed() {
        let key = APIKey.generate().text
        for text in ["", "pfk_", String(key.dropLast()), key + "x", "pfx_" + key.dropFirst(4), String(key.dropLast()) + "!"] {
            #expect(APIKey.parse(text) == nil, "\(text)")
        }
    }

    @Test func constantTimeEqualityIsEquality() {
        #expect(APIKey.constantTimeEqual("abc", "abc"))
        #expect(!APIKey.constantTimeEqual("abc", "abd"))
        #expect(!APIKey.constantTimeEqual("abc", "abcd"))
    }
}

@Suite struct GatekeeperTests {
    struct Fixture {
        let directory: TemporaryDirectory
        let catalog: AccessCatalog
        let book: KeyBook
        let gatekeeper: Gatekeeper

        init(burst: Int = 10) throws {
            directory = try TemporaryDirectory()
            catalog = try AccessCatalog(dataDirectory: directory.path)
            try catalog.createProject("a")
            try catalog.createProject("b")
            book = try KeyBook(catalog: catalog)
            gatekeeper = Gatekeeper(enabled: true, book: book, throttle: FailureThrottle(burst: burst))
        }

        func key(_ scope: AccessScope, _ project: String?) throws -> String {
            let (key, _) = try catalog.createKey(scope: scope, project: project, name: "test")
            try book.refresh()
            return key.text
        }

        func decide(_ key: String?, _ requirement: AccessRequirement, project: String? = nil,
                    address: String = "10.0.0.1") -> Result<AccessGrant, AccessDenial> {
            gatekeeper.decide(AccessRequest(authorization: key.map { "Bearer \($0)" }, apiKey: nil, project: project, clientAddress: address),
                              requires: requirement)
        }
    }

    func kind(_ result: Result<AccessGrant, AccessDenial>) -> String {
        switch result {
        case .success(let grant): "ok:\(grant.project)"
        case .failure(let denial): "\(denial.kind)"
        }
    }

    @Test func scopesAndProjectsDecide() throws {
        let fixture = try Fixture()
        defer { fixture.directory.remove() }
        let ingestA = try fixture.key(.ingest, "a"), readA = try fixture.key(.read, "a")
        let adminA = try fixture.key(.admin, "a"), global = try fixture.key(.admin, nil)
        #expect(kind(fixture.decide(nil, .read)) == "unauthenticated")
        #expect(kind(fixture.decide(ingestA, .ingest)) == "ok:a")
        #expect(kind(fixture.decide(ingestA, .read)) == "forbidden")
        #expect(kind(fixture.decide(readA, .read)) == "ok:a")
        #expect(kind(fixture.decide(readA, .ingest)) == "forbidden")
        #expect(kind(fixture.decide(readA, .admin)) == "forbidden")
        #expect(kind(fixture.decide(adminA, .ingest)) == "ok:a")
        #expect(kind(fixture.decide(adminA, .admin)) == "ok:a")
        #expect(kind(fixture.decide(adminA, .globalAdmin)) == "forbidden")
        #expect(kind(fixture.decide(readA, .read, project: "b")) == "forbidden")
        #expect(kind(fixture.decide(readA, .read, project: "a")) == "ok:a")
        #expect(kind(fixture.decide(global, .globalAdmin)) == "ok:default")
        #expect(kind(fixture.decide(global, .read, project: "b")) == "ok:b")
        #expect(kind(fixture.decide(global, .read, project: "nope")) == "unknownProject")
        #expect(kind(fixture.decide(nil, .public)) == "ok:default")
    }

    @Test func theApiKeyHeaderWorksAndOtherSchemesAreRefused() throws {
        let fixture = try Fixture()
        defer { fixture.directory.remove() }
        let readA = try fixture.key(.read, "a")
        let viaHeader = fixture.gatekeeper.decide(AccessRequest(authorization: nil, apiKey: readA, project: nil, clientAddress: "x"), requires: .read)
        #expect(kind(viaHeader) == "ok:a")
        let basic = fixture.gatekeeper.decide(AccessRequest(authorization: "Basic \(readA)", apiKey: nil, project: nil, clientAddress: "x"),
                                              requires: .read)
        #expect(kind(basic) == "unauthenticated")
    }

    @Test func revokedAndDeletedProjectsKeysAreRefused() throws {
        let fixture = try Fixture()
        defer { fixture.directory.remove() }
        let readA = try fixture.key(.read, "a"), readB = try fixture.key(.read, "b")
        let id = try #require(APIKey.parse(readA)).id
        try fixture.catalog.revokeKey(id: id)
        fixture.book.forget(keyID: id)
        #expect(kind(fixture.decide(readA, .read)) == "unauthenticated")
        try fixture.catalog.deleteProject("b")
        try fixture.book.refresh()
        #expect(kind(fixture.decide(readB, .read)) == "unauthenticated")
        #expect(throws: AccessError.self) { try fixture.catalog.deleteProject("default") }
    }

    @Test func failuresFromOneAddressAreThrottledAndOthersAreNot() throws {
        let fixture = try Fixture(burst: 3)
        defer { fixture.directory.remove() }
        let readA = try fixture.key(.read, "a")
        let wrong = APIKey.generate().text
        for _ in 0..<3 { #expect(kind(fixture.decide(wrong, .read, address: "10.0.0.9")) == "unauthenticated") }
        #expect(kind(fixture.decide(wrong, .read, address: "10.0.0.9")) == "throttled")
        // Throttled, the right key is not checked either: guessing learns nothing meanwhile.
        #expect(kind(fixture.decide(readA, .read, address: "10.0.0.9")) == "throttled")
        #expect(kind(fixture.decide(readA, .read, address: "10.0.0.10")) == "ok:a")
    }

    @Test func keysAreStoredAsHashesOnly() throws {
        let fixture = try Fixture()
        defer { fixture.directory.remove() }
        let key = try fixture.key(.admin, nil)
        try fixture.book.flushUse()
        for file in try FileManager.default.contentsOfDirectory(atPath: fixture.directory.path) {
            let data = try Data(contentsOf: URL(fileURLWithPath: fixture.directory.path + "/" + file))
            #expect(data.range(of: Data(key.utf8)) == nil, "\(file) holds the key")
            #expect(data.range(of: Data(key.dropFirst(12).utf8)) == nil, "\(file) holds the key's secret")
        }
    }

    @Test func projectNamesAreChecked() {
        for name in ["a", "team-a", "x_1", String(repeating: "a", count: 63)] { #expect(AccessCatalog.isValidProjectName(name), "\(name)") }
        for name in ["", "-a", "A", "a/b", "..", "a b", String(repeating: "a", count: 64), "é"] {
            #expect(!AccessCatalog.isValidProjectName(name), "\(name)")
        }
    }

    @Test func peerAddressesLoseTheirPort() {
        #expect(AccessRequest.host(ofPeer: "ipv4:127.0.0.1:5000") == "127.0.0.1")
        #expect(AccessRequest.host(ofPeer: "ipv6:[::1]:5000") == "::1")
        #expect(AccessRequest.host(ofPeer: "10.1.2.3:80") == "10.1.2.3")
    }
}
