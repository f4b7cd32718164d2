import Foundation
import Testing
import TarmacTesting

/// The defects found by attacking `tarmac up` as a member would: each one reproduced through the real server.
extension ServerTests {
@Suite struct HardeningTests {
    static func json(_ object: [String: Any]) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    static func document(kind: String, name: String, team: String = "search", owner: String = "alice@acme.example", spec: [String: Any]) -> String {
        json(["apiVersion": "tarmac.dev/v1alpha1", "kind": kind, "metadata": ["name": name, "team": team, "env": "dev", "owner": owner],
              "spec": ["size": "cpu-small", "image": "docker.io/library/python:3.12-slim"].merging(spec) { _, new in new }])
    }

    @Test func concurrentSubmitsWithOneKeyAllGetTheFirstOnesWorkload() async throws {
        let server = try TestServer()
        try await server.start()
        let admin = try server.adminToken
        for round in 0..<20 {
            let doc = Doc.training("same-key-\(round)", script: "print(1)")
            let answers = try await withThrowingTaskGroup(of: (status: Int, id: String?, key: String?).self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        let (s, o) = try await server.json(.POST, "/v1/workloads", token: admin, body: doc, headers: [("Idempotency-Key", "round-\(round)")])
                        return (s, o["id"] as? String, o["requestID"] as? String)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let statuses = answers.map(\.status).sorted()
            #expect(statuses == [200, 200, 201], "round \(round): \(answers)")
            #expect(answers.allSatisfy { $0.id != nil } && Set(answers.map(\.id)).count == 1, "round \(round): one workload for one key")
            #expect(answers.allSatisfy { $0.key == "round-\(round)" })
        }
        let all = try await server.json(.GET, "/v1/workloads", token: admin)
        #expect((all.1["items"] as? [[String: Any]])?.count == 20)
    }

    @Test func requestIdsBelongToTheTeamThatUsedThem() async throws {
        let server = try TestServer()
        try await server.start()
        let search = try await SecurityTests.token(server, role: "member", team: "search")
        let ads = try await SecurityTests.token(server, role: "member", team: "ads")
        let s1 = try await server.json(.POST, "/v1/workloads", token: search, body: Doc.training("k-search", script: "print(1)"),
                                       headers: [("Idempotency-Key", "shared-key")])
        // Another team's use of the same key neither fails nor reveals the first: it is a key of its own.
        let a1 = try await server.json(.POST, "/v1/workloads", token: ads,
                                       body: Doc.training("k-ads", team: "ads", owner: "carol@acme.example", script: "print(1)"),
                                       headers: [("Idempotency-Key", "shared-key")])
        #expect(s1.0 == 201 && a1.0 == 201, "\(s1) \(a1)")
        #expect(s1.1["id"] as? String != a1.1["id"] as? String)
        let again = try await server.json(.POST, "/v1/workloads", token: search, body: Doc.training("k-search", script: "print(1)"),
                                          headers: [("Idempotency-Key", "shared-key")])
        #expect(again.0 == 200 && again.1["id"] as? String == s1.1["id"] as? String)
    }

    @Test func aServiceWithZeroMinimumReplicasRunsOneAndCancels() async throws {
        let server = try TestServer()
        try await server.start()
        let admin = try server.adminToken
        let doc = Self.document(kind: "InferenceService", name: "scale-zero", team: "platform", owner: "ops@acme.example",
                                spec: ["model": "echo@1", "replicas": "0..2", "port": 8080,
                                       "command": ["python3", "-c", "import time\nwhile True: time.sleep(1)"]])
        let (s, w) = try await server.json(.POST, "/v1/workloads", token: admin, body: doc)
        #expect(s == 201, "\(w)")
        let id = try #require(w["id"] as? String)
        #expect(w["pods"] as? Int == 1, "a service starts at least one replica")
        let running = try await server.waitFor(id) { $0["state"] as? String == "running" }
        #expect((running["placements"] as? [Any])?.count == 1)
        #expect(try await server.http(.POST, "/v1/workloads/\(id)/cancel", token: admin).0 == 200)
        _ = try await server.waitFor(id, timeout: .seconds(30)) { $0["state"] as? String == "cancelled" }
        // The name is free again.
        #expect(try await server.http(.POST, "/v1/workloads", token: admin, body: doc).0 == 201)
    }

    @Test func aCancelRightAfterAdmissionIsNeverLost() async throws {
        // The stop can arrive before the pod's supervisor has written its pid (nothing to signal yet): it must still stop.
        let server = try TestServer()
        try await server.start()
        let admin = try server.adminToken
        var ids: [String] = []
        for i in 0..<6 {
            let doc = Doc.training("cancel-race-\(i)", size: "cpu-small", script: "import time\nwhile True: time.sleep(1)")
            let (s, w) = try await server.json(.POST, "/v1/workloads", token: admin, body: doc)
            #expect(s == 201)
            let id = try #require(w["id"] as? String)
            _ = try await server.waitFor(id) { ["admitted", "running"].contains($0["state"] as? String ?? "") }
            #expect(try await server.http(.POST, "/v1/workloads/\(id)/cancel", token: admin).0 == 200)
            ids.append(id)
        }
        for id in ids { _ = try await server.waitFor(id, timeout: .seconds(30)) { $0["state"] as? String == "cancelled" } }
        #expect(server.liveSupervisors().isEmpty)
    }

    @Test func aBatchJobNeverRunsPodsWithoutATask() async throws {
        let server = try TestServer()
        try await server.start()
        let admin = try server.adminToken
        let doc = Self.document(kind: "BatchJob", name: "few-tasks", team: "platform", owner: "ops@acme.example",
                                spec: ["tasks": 2, "parallelism": 4, "maxDuration": "5m",
                                       "command": ["python3", "-c", "import os; print('task', os.environ['JOB_COMPLETION_INDEX'])"]])
        let (s, w) = try await server.json(.POST, "/v1/workloads", token: admin, body: doc)
        #expect(s == 201 && w["pods"] as? Int == 2, "\(w)")
        let id = try #require(w["id"] as? String)
        let done = try await server.waitFor(id) { ["succeeded", "failed"].contains($0["state"] as? String ?? "") }
        #expect(done["state"] as? String == "succeeded", "\(done)")
        for pod in 0..<2 {
            let log = String(decoding: try await server.http(.GET, "/v1/workloads/\(id)/logs?pod=\(pod)", token: admin).1, as: UTF8.self)
            #expect(log == "task \(pod)\n")
        }
        #expect(try await server.http(.GET, "/v1/workloads/\(id)/logs?pod=2", token: admin).0 == 404)
    }

    @Test func secretsInQueryStringsAreNotLogged() async throws {
        let server = try TestServer(arguments: ["--log-level", "debug"])
        try await server.start()
        let admin = try server.adminToken
        let leaked = "tmc_querysecretthatmustnotbelogged"
        #expect(try await server.http(.GET, "/v1/whoami?access_token=\(leaked)", token: admin).0 == 200)
        #expect(try await server.http(.GET, "/v1/workloads?token=\(leaked)", token: nil).0 == 401)
        // Both requests are logged (the refused one too) before the log is searched for the secret.
        try await eventually("requests are logged at debug level") { server.serverLog.contains("path=/v1/whoami") && server.serverLog.contains("path=/v1/workloads") }
        #expect(!server.serverLog.contains(leaked))
        #expect(server.serverLog.components(separatedBy: admin).count == 2, "the admin token appears once: in the first start's banner")
    }

    @Test func whatCannotReachAProcessIsRefusedAtSubmit() async throws {
        let server = try TestServer()
        try await server.start()
        let admin = try server.adminToken
        let script = ["python3", "-c", "print(1)"]
        let cases: [(String, String, String)] = [
            ("owner with NUL", Self.document(kind: "TrainingJob", name: "v1", owner: "alice\u{0}@acme.example", spec: ["command": script]), "control character U+0000"),
            ("owner with newline", Self.document(kind: "TrainingJob", name: "v2", owner: "alice@acme.example\nforged: line", spec: ["command": script]), "owner"),
            ("owner with CR", Self.document(kind: "TrainingJob", name: "v3", owner: "alice\r@acme.example", spec: ["command": script]), "control character"),
            ("env value with NUL", Self.document(kind: "TrainingJob", name: "v4", spec: ["command": script, "env": ["A": "x\u{0}y"]]), "NUL byte"),
            ("argument with NUL", Self.document(kind: "TrainingJob", name: "v5", spec: ["command": ["python3", "-c", "print(1)\u{0}"]]), "NUL byte"),
            ("empty command", Self.document(kind: "TrainingJob", name: "v6", spec: ["command": [""]]), "must name the program"),
        ]
        for (what, doc, message) in cases {
            let (s, e) = try await server.json(.POST, "/v1/workloads", token: admin, body: doc)
            let texts = ((e["error"] as? [String: Any])?["diagnostics"] as? [[String: Any]])?.compactMap { $0["text"] as? String } ?? []
            #expect(s == 422, "\(what): \(s) \(e)")
            #expect(texts.contains { $0.contains(message) }, "\(what): \(texts)")
        }
        let tokenCases: [(String, String, String)] = [
            ("unknown field", #"{"role": "member", "tean": "search"}"#, "unknown field 'tean'; did you mean 'team'?"),
            ("two unknown fields", #"{"role": "viewer", "ttl": 5, "nmae": "x"}"#, "unknown field 'nmae'; did you mean 'name'?"),
            ("name with NUL", #"{"role": "viewer", "name": "ci\u0000bot"}"#, "one printable line"),
            ("name with newline", #"{"role": "viewer", "name": "ci\nbot"}"#, "one printable line"),
            ("1 MiB name", Self.json(["role": "viewer", "name": String(repeating: "n", count: 1 << 20)]), "1 to 100 characters"),
            ("wrong type", #"{"role": 5}"#, "role must be a string"),
        ]
        for (what, body, message) in tokenCases {
            let (s, e) = try await server.json(.POST, "/v1/tokens", token: admin, body: body)
            let text = (e["error"] as? [String: Any])?["message"] as? String ?? ""
            #expect([413, 422].contains(s) && (s == 413 || text.contains(message)), "\(what): \(s) \(text)")
        }
        // Nothing of that reached the store or the audit trail.
        #expect((try await server.json(.GET, "/v1/workloads", token: admin).1["items"] as? [Any])?.isEmpty == true)
        // The admin token and the first signing key are all it holds.
        let verify = try server.cli(["audit", "verify"])
        #expect(verify.status == 0 && verify.stdout.contains("audit chain intact: 2 records"), "\(verify.stdout)")
    }

    @Test func hostileLogLinesKeepTheAuditChainVerifiableAndACutTailIsFound() async throws {
        guard let sqlite = Run.which("sqlite3") else {
            Issue.record("sqlite3 is needed to edit the store behind the server's back (.ci/run installs it)")
            return
        }
        let server = try TestServer()
        try await server.start()
        // The failure message carries the last log lines: NUL, CR, invalid UTF-8, a line of 1 MiB.
        let script = "import sys\nout = sys.stdout.buffer\nout.write(b'x' * (1 << 20) + b'\\n')\nout.write(b'a\\x00b\\r\\nbad \\xc3\\x28 \\xff\\xfe end\\r\\x00\\n')\nout.flush()\nsys.exit(3)"
        let file = try server.dir.write("hostile.yaml", Doc.training("hostile", script: script))
        let r = try server.cli(["submit", "--wait", file])
        #expect(r.status == 1, "\(r.stdout) \(r.stderr)")
        let export = try server.cli(["audit", "export"])
        #expect(export.stdout.contains("\\u0000"), "the NUL reached the audit record intact")
        var verify = try server.cli(["audit", "verify"])
        #expect(verify.status == 0, "\(verify.stdout)")
        // A graceful stop writes a last anchor; the store's tail cut off afterwards is found by the offline check.
        server.stop(signal: SIGTERM)
        let anchors = try AuditAnchorLines.read(server.data + "/audit-anchors.jsonl")
        let records = Int(try Run.program(sqlite, [server.data + "/tarmac.db", "SELECT COUNT(*) FROM audit"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        #expect(anchors.last == records, "the last anchor is the head at shutdown: \(anchors) vs \(records)")
        verify = try server.cli(["audit", "verify", "--data", server.data])
        #expect(verify.status == 0 && verify.stdout.contains("anchor"), "\(verify.stdout)")
        _ = try Run.program(sqlite, [server.data + "/tarmac.db", "DELETE FROM audit WHERE seq >= \(records - 1)"])
        verify = try server.cli(["audit", "verify", "--data", server.data])
        #expect(verify.status == 1 && verify.stdout.contains("removed from its end"), "\(verify.stdout)")
        // The server checks the same anchors.
        try await server.start()
        let online = try server.cli(["audit", "verify"])
        #expect(online.status == 1 && online.stdout.contains("removed from its end"), "\(online.stdout)")
    }
}
}

/// Sequence numbers in an anchor file (the test reads it as a stranger would).
enum AuditAnchorLines {
    static func read(_ path: String) throws -> [Int] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").compactMap {
            (try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["seq"] as? Int
        }
    }
}
