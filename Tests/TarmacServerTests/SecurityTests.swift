import Foundation
import Testing
import TarmacTesting

/// Tokens, roles, teams, idempotency, input errors and the audit chain, through the real server.
extension ServerTests {
@Suite struct SecurityTests {
    static func token(_ server: TestServer, role: String, team: String?) async throws -> String {
        var body = "{\"role\": \"\(role)\", \"name\": \"\(role)-\(team ?? "all")\""
        if let team { body += ", \"team\": \"\(team)\"" }
        let (s, o) = try await server.json(.POST, "/v1/tokens", token: try server.adminToken, body: body + "}")
        #expect(s == 201, "\(o)")
        return try #require(o["secret"] as? String)
    }

    @Test func rolesAndTeamsAreEnforced() async throws {
        let server = try TestServer()
        try await server.start()
        let admin = try server.adminToken
        let ads = try await Self.token(server, role: "member", team: "ads")
        let viewer = try await Self.token(server, role: "viewer", team: nil)
        let searchJob = Doc.training("s1", script: "print(1)")
        let adsJob = Doc.training("a1", team: "ads", owner: "carol@acme.example", script: "print(1)")

        #expect(try await server.http(.GET, "/v1/workloads", token: nil).0 == 401)
        #expect(try await server.http(.GET, "/v1/workloads", token: "tmc_not-a-real-token").0 == 401)
        let (s, search) = try await server.json(.POST, "/v1/workloads", token: admin, body: searchJob)
        #expect(s == 201)
        let searchID = try #require(search["id"] as? String)

        #expect(try await server.http(.POST, "/v1/workloads", token: ads, body: searchJob.replacingOccurrences(of: "s1", with: "s2")).0 == 403)
        #expect(try await server.http(.POST, "/v1/workloads", token: ads, body: adsJob).0 == 201)
        // Another team's workload is answered like one that does not exist, by id and by name: nothing to probe.
        for path in ["/v1/workloads/\(searchID)", "/v1/workloads/s1", "/v1/workloads/\(searchID)/logs", "/v1/workloads/s1/why"] {
            let theirs = try await server.json(.GET, path, token: ads)
            let none = try await server.json(.GET, path.replacingOccurrences(of: searchID, with: "wl-000000000000").replacingOccurrences(of: "s1", with: "zz"), token: ads)
            #expect(theirs.0 == 404 && none.0 == 404, "\(path): \(theirs.0) vs \(none.0)")
            #expect((theirs.1["error"] as? [String: Any])?["code"] as? String == "notFound")
        }
        #expect(try await server.http(.POST, "/v1/workloads/\(searchID)/cancel", token: ads).0 == 404)
        let visible = try await server.json(.GET, "/v1/workloads", token: ads)
        #expect((visible.1["items"] as? [[String: Any]])?.map { $0["team"] as? String } == ["ads"], "a member lists only its team")

        #expect(try await server.http(.GET, "/v1/workloads/\(searchID)", token: viewer).0 == 200)
        #expect(try await server.http(.POST, "/v1/workloads/\(searchID)/cancel", token: viewer).0 == 403)
        #expect(try await server.http(.POST, "/v1/workloads", token: viewer, body: adsJob.replacingOccurrences(of: "a1", with: "a2")).0 == 403)
        #expect(try await server.http(.POST, "/v1/tokens", token: viewer, body: "{\"role\": \"admin\"}").0 == 403)
        #expect(try await server.http(.GET, "/v1/audit", token: ads).0 == 403)

        // The CLI maps 403 to exit status 4.
        let cli = try server.cli(["cancel", searchID], token: viewer)
        #expect(cli.status == 4, "\(cli.stderr)")

        // Revoked and expired tokens stop working.
        let tokens = try await server.json(.GET, "/v1/tokens", token: admin)
        let adsID = try #require((tokens.1["items"] as? [[String: Any]])?.first { $0["team"] as? String == "ads" }?["id"] as? String)
        #expect(try await server.http(.DELETE, "/v1/tokens/\(adsID)", token: admin).0 == 204)
        #expect(try await server.http(.GET, "/v1/workloads", token: ads).0 == 401)
        let (_, short) = try await server.json(.POST, "/v1/tokens", token: admin, body: "{\"role\": \"viewer\", \"ttlSeconds\": 1}")
        let shortSecret = try #require(short["secret"] as? String)
        #expect(try await server.http(.GET, "/v1/whoami", token: shortSecret).0 == 200)
        try await eventually("the one-second token expires", timeout: .seconds(10)) { try await server.http(.GET, "/v1/whoami", token: shortSecret).0 == 401 }

        // Tokens are stored hashed: no secret appears in the store.
        let db = try Data(contentsOf: URL(fileURLWithPath: server.data + "/tarmac.db"))
        #expect(db.range(of: Data(viewer.utf8)) == nil)
        #expect(!server.serverLog.contains(viewer))
        // Bad token requests get every problem at once.
        let bad = try await server.json(.POST, "/v1/tokens", token: admin, body: "{\"role\": \"member\", \"team\": \"serch\"}")
        #expect(bad.0 == 422)
        #expect(((bad.1["error"] as? [String: Any])?["message"] as? String)?.contains("did you mean 'search'?") == true, "\(bad.1)")
    }

    @Test func rateLimitAnswers429WithRetryAfter() async throws {
        let server = try TestServer(arguments: ["--rate-limit", "1"])
        try await server.start()
        let admin = try server.adminToken
        var statuses: [Int] = []
        for _ in 0..<40 { statuses.append(try await server.http(.GET, "/v1/whoami", token: admin).0) }
        #expect(statuses.contains(429), "\(statuses)")
        #expect(statuses.prefix(20).allSatisfy { $0 == 200 }, "the burst is allowed: \(statuses)")
    }

    @Test func submitIsIdempotentAndInvalidInputGetsDiagnostics() async throws {
        let server = try TestServer()
        try await server.start()
        let admin = try server.adminToken
        let doc = Doc.training("once", script: "import time\ntime.sleep(30)")
        let first = try await server.json(.POST, "/v1/workloads", token: admin, body: doc, headers: [("Idempotency-Key", "abc")])
        let second = try await server.json(.POST, "/v1/workloads", token: admin, body: doc, headers: [("Idempotency-Key", "abc")])
        #expect(first.0 == 201 && second.0 == 200)
        #expect(first.1["id"] as? String == second.1["id"] as? String)
        // The same name while the first is active: a conflict, not a second workload.
        #expect(try await server.http(.POST, "/v1/workloads", token: admin, body: doc).0 == 409)
        let all = try await server.json(.GET, "/v1/workloads", token: admin)
        #expect((all.1["items"] as? [[String: Any]])?.count == 1)

        let broken = Doc.training("once", size: "small", script: "print(1)").replacingOccurrences(of: "size: small", with: "size: smal\n  wrokers: 2")
        let (s, e) = try await server.json(.POST, "/v1/workloads", token: admin, body: broken)
        #expect(s == 422)
        let texts = ((e["error"] as? [String: Any])?["diagnostics"] as? [[String: Any]])?.compactMap { $0["text"] as? String } ?? []
        #expect(texts.contains { $0.contains("request:6:3") && $0.contains("wrokers") && $0.contains("did you mean 'workers'") }, "\(texts)")
        #expect(texts.contains { $0.contains("smal") && $0.contains("did you mean 'small'") }, "\(texts)")
        // The CLI shows the same diagnostics against the user's file, exit 1.
        let file = try server.dir.write("broken.yaml", broken)
        let r = try server.cli(["submit", file])
        #expect(r.status == 1)
        #expect(r.stderr.contains("\(file):6:3: error:"), "\(r.stderr)")
        #expect(try await server.http(.POST, "/v1/workloads", token: admin, body: String(repeating: "x", count: 2 << 20)).0 == 413)
        #expect(try await server.http(.POST, "/v1/workloads", token: admin, body: "").0 == 400)
    }

    @Test func auditVerifyDetectsAnEditedRecord() async throws {
        guard let sqlite = Run.which("sqlite3") else {
            Issue.record("sqlite3 is needed to edit the store behind the server's back (.ci/run installs it)")
            return
        }
        let server = try TestServer()
        try await server.start()
        let file = try server.dir.write("ok.yaml", Doc.training("audited", script: "print('x')"))
        #expect(try server.cli(["submit", "--wait", file]).status == 0)
        let ok = try server.cli(["audit", "verify"])
        // The admin token, the first signing key, then submit, admit, run, succeed.
        #expect(ok.status == 0 && ok.stdout.contains("audit chain intact: 6 records"), "\(ok.stdout)")
        let export = try server.cli(["audit", "export"])
        #expect(export.stdout.split(separator: "\n").count == 6)

        let edit = try Run.program(sqlite, [server.data + "/tarmac.db", "UPDATE audit SET detail = 'nothing to see' WHERE seq = 3"])
        #expect(edit.status == 0, "\(edit.stderr)")
        let bad = try server.cli(["audit", "verify"])
        #expect(bad.status == 1)
        #expect(bad.stdout.contains("BROKEN at record 3"), "\(bad.stdout)")
        // Offline verification reads the same store and agrees; a deleted record is named too.
        _ = try Run.program(sqlite, [server.data + "/tarmac.db", "UPDATE audit SET detail = (SELECT detail FROM audit WHERE seq = 3) WHERE 0; DELETE FROM audit WHERE seq = 5"])
        let offline = try server.cli(["audit", "verify", "--data", server.data])
        #expect(offline.status == 1 && offline.stdout.contains("BROKEN at record 3"), "\(offline.stdout)")
    }

    @Test func probesMetricsAndOpenAPI() async throws {
        let server = try TestServer()
        try await server.start()
        #expect(try await server.http(.GET, "/healthz", token: nil).0 == 200)
        #expect(try await server.http(.GET, "/readyz", token: nil).0 == 200)
        let file = try server.dir.write("m.yaml", Doc.training("metered", script: "import time\ntime.sleep(1)"))
        #expect(try server.cli(["submit", "--wait", file]).status == 0)
        let metrics = String(decoding: try await server.http(.GET, "/metrics", token: nil).1, as: UTF8.self)
        for name in ["tarmac_queue_depth", "tarmac_running_workloads", "tarmac_admissions_total", "tarmac_gpu_seconds_total",
                     "tarmac_cpu_allocated_cores", "tarmac_gpu_allocated", "hb_requests", "http_server_request_duration"] {
            #expect(metrics.contains(name), "missing \(name)")
        }
        #expect(metrics.contains("tarmac_cpu_seconds_total{team=\"search\"}"), "\(metrics)")
        let doc = String(decoding: try await server.http(.GET, "/openapi.yaml", token: nil).1, as: UTF8.self)
        #expect(doc.hasPrefix("openapi: 3.1.0"))
        #expect(doc.contains("/v1/workloads/{ref}/logs:"))
    }
}
}
