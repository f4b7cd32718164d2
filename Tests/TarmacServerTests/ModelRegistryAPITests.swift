import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import TarmacAPI
import TarmacCore
import TarmacDelivery
import TarmacRuntime
import TarmacTesting
import Testing

/// The registry's routes in process (router test client, no socket) over the in-memory store and real files on disk:
/// files kept once by digest and only when their bytes match, versions registered once and never changed, aliases
/// moved by compare-and-set, access by team, every refusal naming its reason and writing nothing.
@Suite struct ModelRegistryAPITests {
    struct Setup {
        let h: RouterTests.Harness
        let dir: TemporaryDirectory
        let registry: ModelRegistry
        /// Team search's kept files.
        var files: ModelArtifacts { try! registry.artifacts!.team("search") }
    }

    static func setup() async throws -> Setup {
        let h = try await RouterTests.Harness()
        let dir = try TemporaryDirectory(prefix: "tarmac-models")
        let registry = ModelRegistry(store: h.store, controlPlane: h.cp, artifacts: try ModelArtifacts(root: dir.path + "/models", fileLimit: 1 << 20))
        return Setup(h: h, dir: dir, registry: registry)
    }

    static func digest(_ d: Data) -> String { "sha256:" + SHA256.hash(data: d).map { String(format: "%02x", $0) }.joined() }

    static func send(_ c: some TestClientProtocol, _ method: HTTPRequest.Method, _ path: String, _ token: String, body: Data? = nil) async throws -> TestResponse {
        var headers: HTTPFields = [.authorization: "Bearer \(token)"]
        if body != nil { headers[.contentType] = path.hasPrefix("/v1/blobs/sha256") ? "application/octet-stream" : "application/json" }
        return try await c.execute(uri: path, method: method, headers: headers, body: body.map { ByteBuffer(bytes: $0) })
    }

    static func json(_ r: TestResponse) -> [String: Any] { ((try? JSONSerialization.jsonObject(with: Data(buffer: r.body))) as? [String: Any]) ?? [:] }
    static func message(_ r: TestResponse) -> String { (json(r)["error"] as? [String: Any])?["message"] as? String ?? String(buffer: r.body) }

    /// A registration body for files `(path, bytes)`.
    static func registration(_ version: String, _ files: [(String, Data)], extra: [String: Any] = [:]) throws -> Data {
        var body: [String: Any] = ["version": version, "files": files.map { ["path": $0.0, "sha256": String(digest($0.1).dropFirst(7)), "size": $0.1.count] }]
        for (k, v) in extra { body[k] = v }
        return try JSONSerialization.data(withJSONObject: body)
    }

    @Test func filesAreKeptOnceByDigestAndOnlyWhenTheirBytesMatch() async throws {
        let s = try await Self.setup()
        let weights = Data((0..<300_000).map { UInt8($0 % 251) }), config = Data(#"{"layers": 2}"#.utf8)
        let dw = Self.digest(weights), dc = Self.digest(config)
        try await s.h.app(models: s.registry).test(.router) { c async throws in
            let asked = try JSONSerialization.data(withJSONObject: ["digests": [dw, dc, dw]])
            var r = try await Self.send(c, .post, "/v1/blobs/missing", s.h.member, body: asked)
            #expect(r.status == .ok)
            #expect(Self.json(r)["digests"] as? [String] == [dw, dc], "each missing digest once, in order")
            r = try await Self.send(c, .put, "/v1/blobs/\(dw)", s.h.member, body: weights)
            #expect(r.status == .created, "\(Self.message(r))")
            r = try await Self.send(c, .put, "/v1/blobs/\(dw)", s.h.member, body: weights)
            #expect(r.status == .ok, "the same file again is kept already")
            // Other bytes under a digest: refused, nothing kept, nothing half-written left behind.
            r = try await Self.send(c, .put, "/v1/blobs/\(dc)", s.h.member, body: weights)
            #expect(r.status == .unprocessableContent)
            #expect(Self.message(r).contains("not \(dc)"), "\(Self.message(r))")
            #expect(!s.files.has(dc))
            let left = try FileManager.default.subpathsOfDirectory(atPath: s.files.root).filter { $0.hasSuffix(".part") }
            #expect(left.isEmpty, "temporary files left: \(left)")
            r = try await Self.send(c, .put, "/v1/blobs/sha256:XYZ", s.h.member, body: config)
            #expect(r.status == .badRequest)
            // Over the server's limit for one file (1 MiB here): 413 naming the limit, nothing kept.
            let big = Data(count: (1 << 20) + 10)
            r = try await Self.send(c, .put, "/v1/blobs/\(Self.digest(big))", s.h.member, body: big)
            #expect(r.status == .contentTooLarge, "\(r.status)")
            #expect(!s.files.has(Self.digest(big)))
            r = try await Self.send(c, .put, "/v1/blobs/\(dc)", s.h.viewer, body: config)
            #expect(r.status == .forbidden)
            r = try await Self.send(c, .post, "/v1/blobs/missing", s.h.member, body: asked)
            #expect(Self.json(r)["digests"] as? [String] == [dc])
            // What is kept is exactly what was sent.
            #expect(FileManager.default.contents(atPath: s.files.path(dw)!) == weights)
            // Files are kept per team: another team learns nothing of search's (its own store lacks them), and cannot
            // register a version of bytes it never sent by naming their digests.
            r = try await Self.send(c, .post, "/v1/blobs/missing", s.h.outsider, body: asked)
            #expect(Self.json(r)["digests"] as? [String] == [dw, dc])
            r = try await Self.send(c, .post, "/v1/models/stolen/versions", s.h.outsider, body: try Self.registration("1.0.0", [("w.bin", weights)]))
            #expect(r.status == .unprocessableContent && Self.message(r).contains("were not sent"), "\(Self.message(r))")
            r = try await Self.send(c, .post, "/v1/blobs/missing?team=search", s.h.outsider, body: asked)
            #expect(r.status == .forbidden)
        }
    }

    @Test func versionsAreRegisteredOnceAndAliasesMoveByCompareAndSet() async throws {
        let s = try await Self.setup()
        let v1 = [("config.json", Data("{}".utf8)), ("weights/model.safetensors", Data(repeating: 7, count: 4096))]
        let v2 = [("config.json", Data("{}".utf8)), ("weights/model.safetensors", Data(repeating: 8, count: 4096))]
        try await s.h.app(models: s.registry).test(.router) { c async throws in
            // Registering before the files are sent: refused, naming them.
            var r = try await Self.send(c, .post, "/v1/models/ranker/versions", s.h.member, body: try Self.registration("1.0.0", v1))
            #expect(r.status == .unprocessableContent)
            #expect(Self.message(r).contains("2 of the manifest's files were not sent") && Self.message(r).contains("config.json"), "\(Self.message(r))")
            for (_, bytes) in v1 + v2 { _ = try await Self.send(c, .put, "/v1/blobs/\(Self.digest(bytes))", s.h.member, body: bytes) }
            r = try await Self.send(c, .post, "/v1/models/ranker/versions", s.h.member,
                                    body: try Self.registration("1.0.0", v1, extra: ["owner": "bob@acme.example", "format": "safetensors", "labels": ["task": "rank"]]))
            #expect(r.status == .created, "\(Self.message(r))")
            let manifest = ModelManifest(files: v1.map { .init(path: $0.0, sha256: String(Self.digest($0.1).dropFirst(7)), size: Int64($0.1.count)) })
            #expect(Self.json(r)["digest"] as? String == manifest.digest)
            #expect(Self.json(r)["team"] as? String == "search" && Self.json(r)["artifact"] as? String == "tarmac")
            // The same again: the same registration (200); other files under that version, or under one of the same
            // precedence: 409, nothing changed.
            r = try await Self.send(c, .post, "/v1/models/ranker/versions", s.h.member, body: try Self.registration("1.0.0", v1))
            #expect(r.status == .ok)
            for version in ["1.0.0", "1.0.0+rebuilt"] {
                r = try await Self.send(c, .post, "/v1/models/ranker/versions", s.h.member, body: try Self.registration(version, v2))
                #expect(r.status == .conflict, "\(version): \(r.status)")
                #expect(Self.message(r).contains("a version never changes"), "\(Self.message(r))")
            }
            r = try await Self.send(c, .post, "/v1/models/ranker/versions", s.h.member, body: try Self.registration("1.1.0", v2))
            #expect(r.status == .created)
            // Reading: the team, an auditor; another team's member finds nothing (as if it did not exist).
            r = try await Self.send(c, .get, "/v1/models/ranker", s.h.viewer)
            #expect((Self.json(r)["versions"] as? [[String: Any]])?.map { $0["version"] as? String } == ["1.0.0", "1.1.0"])
            r = try await Self.send(c, .get, "/v1/models/ranker/versions/1.0.0", s.h.auditor)
            #expect(r.status == .ok)
            #expect((Self.json(r)["manifest"] as? [[String: Any]])?.map { $0["path"] as? String } == ["config.json", "weights/model.safetensors"])
            #expect(Self.json(r)["owner"] as? String == "bob@acme.example")
            r = try await Self.send(c, .get, "/v1/models/ranker", s.h.outsider)
            #expect(r.status == .notFound)
            r = try await Self.send(c, .get, "/v1/models", s.h.outsider)
            #expect((Self.json(r)["items"] as? [Any])?.isEmpty == true)
            r = try await Self.send(c, .get, "/v1/models", s.h.member)
            #expect((Self.json(r)["items"] as? [[String: Any]])?.first?["latest"] as? String == "1.1.0")
            // Viewers and other teams register nothing.
            r = try await Self.send(c, .post, "/v1/models/ranker/versions", s.h.viewer, body: try Self.registration("1.2.0", v2))
            #expect(r.status == .forbidden)
            r = try await Self.send(c, .post, "/v1/models/ranker/versions", s.h.outsider, body: try Self.registration("1.2.0", v2, extra: ["team": "search"]))
            #expect(r.status == .forbidden)

            // Aliases: created, then moved only from where the caller says it is.
            func move(_ alias: String, _ body: [String: Any], _ token: String) async throws -> TestResponse {
                try await Self.send(c, .put, "/v1/models/ranker/aliases/\(alias)", token, body: try JSONSerialization.data(withJSONObject: body))
            }
            r = try await move("champion", ["version": "1.0.0"], s.h.member)
            #expect(r.status == .ok, "\(Self.message(r))")
            r = try await move("champion", ["version": "1.1.0", "expected": "1.0.0"], s.h.member)
            #expect(r.status == .ok)
            r = try await move("champion", ["version": "1.0.0", "expected": "1.0.0"], s.h.member)
            #expect(r.status == .conflict)
            #expect(Self.message(r).contains("points at 1.1.0, not 1.0.0"), "\(Self.message(r))")
            r = try await Self.send(c, .get, "/v1/models/ranker/versions/champion", s.h.member)
            #expect(Self.json(r)["version"] as? String == "1.1.0" && Self.json(r)["aliases"] as? [String] == ["champion"])
            r = try await move("2.0.0", ["version": "1.0.0"], s.h.member)
            #expect(r.status == .unprocessableContent)
            r = try await move("stable", ["version": "1.0.1"], s.h.member)
            #expect(r.status == .notFound)
            #expect(Self.message(r).contains("did you mean '1.0.0'"), "\(Self.message(r))")
            r = try await move("stable", ["version": "1.0.0"], s.h.viewer)
            #expect(r.status == .forbidden)
            r = try await move("stable", ["verison": "1.0.0"], s.h.member)
            #expect(r.status == .unprocessableContent)
            #expect(Self.message(r).contains("did you mean 'version'"), "\(Self.message(r))")
        }
        // The audit trail: who registered which content, who moved the alias from where to where.
        let audit = try await s.h.store.auditRecords(AuditQuery(action: "model-register")) + (try await s.h.store.auditRecords(AuditQuery(action: "model-alias")))
        #expect(audit.map(\.object) == ["model/search/ranker@1.0.0", "model/search/ranker@1.1.0", "model/search/ranker@champion", "model/search/ranker@champion"])
        #expect(audit.allSatisfy { $0.actorID == "alice" })
        #expect(audit[2].before == "" && audit[2].after == "1.0.0" && audit[3].before == "1.0.0" && audit[3].after == "1.1.0")
        #expect(audit[0].after.hasPrefix("sha256:") && audit[0].detail.contains("2 files"))
    }

    @Test func aRefusedRegistrationNamesEveryProblemAndWritesNothing() async throws {
        let s = try await Self.setup()
        try await s.h.app(models: s.registry).test(.router) { c async throws in
            let before = try await s.h.store.auditRecords(AuditQuery()).count
            let body = try JSONSerialization.data(withJSONObject: [
                "version": "1.0", "fromJob": "no-such-job",
                "files": [["path": "../escape", "sha256": "xyz", "size": 1], ["path": "a", "sha256": String(repeating: "0", count: 64), "size": 1],
                          ["path": "a", "sha256": String(repeating: "0", count: 64), "size": 1]],
                "uri": "ftp://models.example/ranker", "signature": "%%%",
            ])
            let r = try await Self.send(c, .post, "/v1/models/Ranker_X/versions", s.h.member, body: body)
            #expect(r.status == .unprocessableContent)
            let m = Self.message(r)
            for part in ["'Ranker_X' is not a model name", "version '1.0'", "'../escape' is not a relative path", "../escape: sha256 must be 64 hex digits",
                         "a is listed twice", "uri 'ftp://models.example/ranker'", "the signature is not base64", "--from-job: no workload named"] {
                #expect(m.contains(part), "missing \(part) in: \(m)")
            }
            #expect(try await s.h.store.modelVersions(team: nil, model: nil).isEmpty)
            #expect(try await s.h.store.auditRecords(AuditQuery()).count == before)
            // An admin bound to no team must say which; a team that does not exist gets a did-you-mean.
            var r2 = try await Self.send(c, .post, "/v1/models/ranker/versions", s.h.admin, body: try Self.registration("1.0.0", [("a", Data("x".utf8))], extra: ["uri": "s3://b/k"]))
            #expect(r2.status == .unprocessableContent)
            #expect(Self.message(r2).contains("say which team"), "\(Self.message(r2))")
            r2 = try await Self.send(c, .post, "/v1/models/ranker/versions", s.h.admin,
                                     body: try Self.registration("1.0.0", [("a", Data("x".utf8))], extra: ["uri": "s3://b/k", "team": "serch"]))
            #expect(r2.status == .notFound)
            #expect(Self.message(r2).contains("did you mean 'search'"), "\(Self.message(r2))")
            // External files: no upload needed; the URI is what the version points at.
            r2 = try await Self.send(c, .post, "/v1/models/ranker/versions", s.h.admin,
                                     body: try Self.registration("1.0.0", [("a", Data("x".utf8))], extra: ["uri": "s3://b/k", "team": "search"]))
            #expect(r2.status == .created, "\(Self.message(r2))")
            #expect(Self.json(r2)["artifact"] as? String == "s3://b/k")
        }
    }
}
