import Foundation
import TarmacAPI
import TarmacDelivery
import TarmacTesting
import Testing

/// The registry end to end: the real CLI against a real `tarmac up`, files streamed over a socket, a signature made by
/// the real openssl, the audit trail read back through the API.
extension ServerTests {
@Suite struct ModelRegistryTests {
    static let openssl = Run.which("openssl")

    static func json(_ r: ProcessResult) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]) ?? [:]
    }

    @Test(.enabled(if: openssl != nil, "needs the openssl command (Debian's openssl package; .ci/run installs it)"))
    func registerSignedVersionsSendOnlyNewFilesAndMoveAnAlias() async throws {
        let server = try TestServer(arguments: ["--model-file-limit", "1Mi"])
        try await server.start()
        let admin = try server.adminToken
        let member = try await SecurityTests.token(server, role: "member", team: "search")
        let ssl = try #require(Self.openssl)
        let dir = server.dir.path
        let model = dir + "/ranker"
        try FileManager.default.createDirectory(atPath: model + "/weights", withIntermediateDirectories: true)
        try Data("{\"layers\": 2}\n".utf8).write(to: URL(fileURLWithPath: model + "/config.json"))
        try Data((0..<200_000).map { UInt8($0 % 253) }).write(to: URL(fileURLWithPath: model + "/weights/model.safetensors"))

        // The manifest the CLI prints is the one a signature covers; openssl signs it.
        let printed = try server.cli(["model", "manifest", model])
        #expect(printed.status == 0, "\(printed.stderr)")
        #expect(Data(printed.stdout.utf8) == (try ModelManifest.of(directory: model)).canonical)
        try Data(printed.stdout.utf8).write(to: URL(fileURLWithPath: dir + "/manifest.json"))
        for step in [["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", dir + "/release.key"],
                     ["ec", "-in", dir + "/release.key", "-pubout", "-out", dir + "/release.pub"],
                     ["dgst", "-sha256", "-sign", dir + "/release.key", "-out", dir + "/manifest.sig", dir + "/manifest.json"]] {
            #expect(try Run.program(ssl, step).status == 0)
        }

        var r = try server.cli(["model", "register", "ranker", "--version", "1.0.0", "--path", model, "--signature", dir + "/manifest.sig",
                                "--owner", "bob@acme.example", "--format", "safetensors", "--label", "task=rank"], token: member)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("sending 2 of 2 files"), "\(r.stderr)")
        #expect(r.stdout.contains("search/ranker@1.0.0 registered") && r.stdout.contains("signed"), "\(r.stdout)")
        // The same files again: nothing sent, the same registration.
        r = try server.cli(["model", "register", "ranker", "--version", "1.0.0", "--path", model], token: member)
        #expect(r.status == 0 && r.stderr.contains("all 2 files are on the server already") && r.stdout.contains("was registered already"), "\(r.stdout)\(r.stderr)")
        // A new version that changed one file sends that file only.
        try Data("{\"layers\": 3}\n".utf8).write(to: URL(fileURLWithPath: model + "/config.json"))
        r = try server.cli(["model", "register", "ranker", "--version", "1.1.0", "--path", model], token: member)
        #expect(r.status == 0 && r.stderr.contains("sending 1 of 2 files"), "\(r.stderr)")
        // Versions never change: other files under 1.0.0 are refused (exit 1), nothing written.
        r = try server.cli(["model", "register", "ranker", "--version", "1.0.0", "--path", model], token: member)
        #expect(r.status == 1 && r.stderr.contains("a version never changes"), "\(r.status) \(r.stderr)")

        // The stored signature is openssl's, and it verifies against the public key over the manifest as registered.
        r = try server.cli(["model", "get", "ranker@1.0.0", "-o", "json"], token: member)
        let v = Self.json(r)
        #expect(v["signed"] as? Bool == true && v["owner"] as? String == "bob@acme.example")
        let signature = try #require(v["signature"] as? String)
        #expect(Data(base64Encoded: signature) == FileManager.default.contents(atPath: dir + "/manifest.sig"))
        let files = try #require(v["manifest"] as? [[String: Any]]).map {
            ModelManifest.File(path: $0["path"] as! String, sha256: $0["sha256"] as! String, size: ($0["size"] as! NSNumber).int64Value)
        }
        let key = ManifestSignature.TrustedKey(name: "release", pem: try String(contentsOfFile: dir + "/release.pub", encoding: .utf8))
        #expect(ManifestSignature.verify(signature, over: ModelManifest(files: files), trusting: [key]) == .valid(key: "release"))

        // Aliases: moved, read back by alias, and a compare-and-set that lost is refused with exit status 1.
        r = try server.cli(["model", "alias", "ranker@champion", "1.0.0"], token: member)
        #expect(r.status == 0 && r.stdout.contains("ranker@champion -> 1.0.0"), "\(r.stdout)\(r.stderr)")
        r = try server.cli(["model", "alias", "ranker@champion", "1.1.0", "--expect", "1.1.0"], token: member)
        #expect(r.status == 1 && r.stderr.contains("points at 1.0.0, not 1.1.0"), "\(r.stderr)")
        r = try server.cli(["model", "list"], token: member)
        #expect(r.status == 0 && r.stdout.contains("champion=1.0.0") && r.stdout.contains("1.1.0"), "\(r.stdout)")
        r = try server.cli(["model", "get", "ranker"], token: member)
        #expect(r.stdout.contains("VERSION") && r.stdout.contains("champion"), "\(r.stdout)")
        r = try server.cli(["model", "get", "ranker@champoin"], token: member)
        #expect(r.status == 3 && r.stderr.contains("did you mean 'champion'"), "\(r.status) \(r.stderr)")
        // Another team's member: the model does not exist for them.
        let ads = try await SecurityTests.token(server, role: "member", team: "ads")
        r = try server.cli(["model", "get", "ranker"], token: ads)
        #expect(r.status == 3, "\(r.stderr)")

        // Over the server's file limit (1 MiB here): refused at once, naming the limit; nothing registered.
        let big = dir + "/big"
        try FileManager.default.createDirectory(atPath: big, withIntermediateDirectories: true)
        try Data(count: 3 << 20).write(to: URL(fileURLWithPath: big + "/weights.bin"))
        r = try server.cli(["model", "register", "huge", "--version", "1.0.0", "--path", big], token: member)
        #expect(r.status == 1 && r.stderr.contains("a model file may be at most 1 MiB"), "\(r.status) \(r.stderr)")
        r = try server.cli(["model", "get", "huge"], token: member)
        #expect(r.status == 3)

        // The audit trail: who registered which content, who moved the alias.
        r = try server.cli(["audit", "list", "--action", "model-register", "-o", "json"], token: admin)
        let registered = (Self.json(r)["items"] as? [[String: Any]] ?? []).map { "\($0["actorID"] ?? "")/\($0["object"] ?? "")" }
        #expect(registered.count == 2 && registered.allSatisfy { $0.contains("/model/search/ranker@1.") }, "\(registered)")
        r = try server.cli(["audit", "list", "--action", "model-alias", "-o", "json"], token: admin)
        let moved = Self.json(r)["items"] as? [[String: Any]] ?? []
        #expect(moved.count == 1 && moved.first?["after"] as? String == "1.0.0", "\(moved)")
    }

    /// The promotion contract through the CLI: prod trusts a key made by openssl here; every refusal names its gate and
    /// changes nothing; a second person's review lets the version through; the protected alias moves no other way.
    @Test(.enabled(if: openssl != nil, "needs the openssl command (Debian's openssl package; .ci/run installs it)"))
    func promotionGatesThroughTheCLI() async throws {
        let server = try TestServer()
        let ssl = try #require(Self.openssl)
        let dir = server.dir.path
        for name in ["release", "other"] {
            #expect(try Run.program(ssl, ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", dir + "/\(name).key"]).status == 0)
            #expect(try Run.program(ssl, ["ec", "-in", dir + "/\(name).key", "-pubout", "-out", dir + "/\(name).pub"]).status == 0)
        }
        server.platform = try ModelPromotionAPITests.platform(in: server.dir, trusting: try String(contentsOfFile: dir + "/release.pub", encoding: .utf8))
        try await server.start()
        let admin = try server.adminToken
        func token(_ name: String, team: String) async throws -> String {
            let (status, o) = try await server.json(.POST, "/v1/tokens", token: admin, body: #"{"role": "member", "team": "\#(team)", "name": "\#(name)"}"#)
            #expect(status == 201, "\(o)")
            return try #require(o["secret"] as? String)
        }
        // Two people of team search (each token names its person) and one of another team.
        let alice = try await token("alice@acme.example", team: "search")
        let carol = try await token("carol@acme.example", team: "search")
        let ads = try await token("oscar@acme.example", team: "ads")
        func version(_ v: String, signedWith key: String?) throws {
            let model = dir + "/ranker-\(v)"
            try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
            try Data("weights of \(v)\n".utf8).write(to: URL(fileURLWithPath: model + "/model.bin"))
            var args = ["model", "register", "ranker", "--version", v, "--path", model, "--owner", "bob@acme.example"]
            if let key {
                let m = try server.cli(["model", "manifest", model])
                try Data(m.stdout.utf8).write(to: URL(fileURLWithPath: model + ".json"))
                #expect(try Run.program(ssl, ["dgst", "-sha256", "-sign", dir + "/\(key).key", "-out", model + ".sig", model + ".json"]).status == 0)
                args += ["--signature", model + ".sig"]
            }
            let r = try server.cli(args, token: alice)
            #expect(r.status == 0, "\(r.stderr)")
        }
        try version("1.0.0", signedWith: "release")
        try version("1.1.0", signedWith: "other")
        try version("1.2.0", signedWith: nil)

        // Refused, each naming its gate; the alias does not exist afterwards.
        var r = try server.cli(["model", "promote", "ranker@1.1.0", "--env", "prod"], token: alice)
        #expect(r.status == 1 && r.stderr.contains("FAIL  signature: ranker@1.1.0's signature is refused: the signature does not verify"), "\(r.stderr)")
        r = try server.cli(["model", "promote", "ranker@1.2.0", "--env", "prod"], token: alice)
        #expect(r.status == 1 && r.stderr.contains("FAIL  signature: ranker@1.2.0 is not signed"), "\(r.stderr)")
        #expect(try server.cli(["model", "approve", "ranker@1.0.0"], token: alice).status == 0)
        r = try server.cli(["model", "promote", "ranker@1.0.0", "--env", "prod"], token: alice)
        #expect(r.status == 1 && r.stderr.contains("pass  signature: signed by release") && r.stderr.contains("approved only by its author"), "\(r.stderr)")
        r = try server.cli(["model", "promote", "ranker@1.0.0", "--env", "prod"], token: ads)
        #expect(r.status == 3, "another team's member: \(r.status) \(r.stderr)")
        r = try server.cli(["model", "get", "ranker@prod"], token: alice)
        #expect(r.status == 3, "the alias exists after refusals: \(r.stdout)")

        // A second person's review, a dry run, then the promotion.
        r = try server.cli(["model", "approve", "ranker@1.0.0", "--comment", "eval matches"], token: carol)
        #expect(r.status == 0 && r.stdout.contains("approved by"), "\(r.stdout)\(r.stderr)")
        r = try server.cli(["model", "promote", "ranker@1.0.0", "--env", "prod", "--dry-run"], token: alice)
        #expect(r.status == 0 && r.stdout.contains("nothing changed (--dry-run)") && r.stdout.contains("review"), "\(r.stdout)\(r.stderr)")
        r = try server.cli(["model", "promote", "ranker@1.0.0", "--env", "prod"], token: alice)
        #expect(r.status == 0 && r.stdout.contains("search/ranker@prod -> 1.0.0"), "\(r.stdout)\(r.stderr)")
        // The protected alias moves no other way, not even for an admin.
        r = try server.cli(["model", "alias", "ranker@prod", "1.2.0"], token: admin)
        #expect(r.status == 4 && r.stderr.contains("protected"), "\(r.status) \(r.stderr)")
        r = try server.cli(["model", "get", "ranker@prod", "-o", "json"], token: alice)
        #expect(Self.json(r)["version"] as? String == "1.0.0")

        // The audit trail: who approved, who promoted, with the gates.
        r = try server.cli(["audit", "list", "--action", "model-approve", "-o", "json"], token: admin)
        #expect((Self.json(r)["items"] as? [[String: Any]])?.count == 2)
        r = try server.cli(["audit", "list", "--action", "model-promote", "-o", "json"], token: admin)
        let promoted = Self.json(r)["items"] as? [[String: Any]] ?? []
        #expect(promoted.count == 1 && (promoted.first?["detail"] as? String)?.contains("signature: signed by release") == true, "\(promoted)")
    }
}
}
