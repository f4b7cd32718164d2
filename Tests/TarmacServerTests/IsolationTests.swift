import Foundation
import Testing
import TarmacTesting

#if canImport(Glibc)
import Glibc
#endif

/// A member's workload, run by the real local backend, tries to reach the control plane's secrets and another team's
/// pod (Tests/Support/pod_attacks.py); every attempt must fail while the pod can still use its own sandbox.
extension ServerTests {
@Suite struct IsolationTests {
    /// What `tarmac pod-exec --probe` says this machine allows.
    struct Probe: Decodable { var root: Bool; var landlockABI: Int; var privateMounts: Bool }
    static let probe: Probe? = {
        guard let r = try? Run.program(TestServer.binary, ["pod-exec", "--probe"]), r.status == 0 else { return nil }
        return try? JSONDecoder().decode(Probe.self, from: Data(r.stdout.utf8))
    }()
    static var landlockABI: Int { probe?.landlockABI ?? 0 }
    static var isolatable: Bool { probe?.privateMounts == true || (landlockABI > 0 && getuid() != 0) }
    static let user = UnprivilegedUser.make()

    @Test(.enabled(if: isolatable, "this machine offers no pod isolation (neither root with mount namespaces nor Landlock); `tarmac up` says so at start"))
    func aMembersPodCannotReachTheServerOrAnotherTeam() async throws {
        let server = try TestServer()
        try await server.start()
        let mode = getuid() == 0 ? "per-pod user ids" : "Landlock"
        #expect(server.serverLog.contains("isolation \(mode)"), "\(server.serverLog)")
        try await Self.attack(server)
    }

    @Test(.enabled(if: user != nil && landlockABI > 0,
                   "needs root (to create an ordinary user and run tarmac up as it) and a kernel with Landlock"))
    func anUnprivilegedServerConfinesPodsWithLandlock() async throws {
        let server = try TestServer()
        server.runAs = Self.user
        try server.usePlatform(appendingToSpec: "")
        try await server.start()
        #expect(server.serverLog.contains("isolation Landlock ABI"), "\(server.serverLog)")
        #expect(server.serverLog.contains("signals scoped") || Self.landlockABI < 6)
        // The data directory and what is in it belong to that user, for that user only.
        let attrs = try FileManager.default.attributesOfItem(atPath: server.data)
        #expect((attrs[.posixPermissions] as? Int) == 0o700)
        #expect((attrs[.ownerAccountID] as? UInt) == UInt(Self.user!.uid))
        try await Self.attack(server)
    }

    /// Runs another team's pod (with a secret in its environment and its working directory), then a member's pod that
    /// attacks it, the store, the credentials and the server; checks every attack failed and the controls passed.
    static func attack(_ server: TestServer) async throws {
        let ads = try await SecurityTests.token(server, role: "member", team: "ads")
        let search = try await SecurityTests.token(server, role: "member", team: "search")
        let victim = Doc.training("victim", team: "ads", owner: "carol@acme.example",
                                  script: "open('secret.txt', 'w').write('ads secret')\nimport time\ntime.sleep(300)") + "  env: {ADS_SECRET: hunter2}\n"
        let (vs, v) = try await server.json(.POST, "/v1/workloads", token: ads, body: victim)
        #expect(vs == 201, "\(v)")
        let victimID = try #require(v["id"] as? String)
        _ = try await server.waitFor(victimID) { $0["state"] as? String == "running" }
        let pod = server.data + "/pods/\(victimID)/1/0"
        let victimPID = try await Self.podProcess(pod)

        let targets: [String: Any] = [
            "credentials": server.credentials, "serverPid": Int(server.process!.processIdentifier), "data": server.data,
            "otherPod": pod, "otherPid": Int(victimPID), "anchors": server.data + "/audit-anchors.jsonl",
            "serverHome": server.environment["HOME"] ?? "/root",
        ]
        let script = try String(contentsOf: Fixtures.root.appendingPathComponent("Tests/Support/pod_attacks.py"), encoding: .utf8)
        let doc: [String: Any] = [
            "apiVersion": "tarmac.dev/v1alpha1", "kind": "TrainingJob",
            "metadata": ["name": "attacker", "team": "search", "env": "dev", "owner": "alice@acme.example"],
            "spec": ["size": "cpu-small", "workers": 1, "image": "docker.io/library/python:3.12-slim", "maxDuration": "5m",
                     "command": ["python3", "-c", script],
                     "env": ["ATTACK_TARGETS": String(decoding: try JSONSerialization.data(withJSONObject: targets), as: UTF8.self)]],
        ]
        let body = String(decoding: try JSONSerialization.data(withJSONObject: doc), as: UTF8.self)
        let (s, a) = try await server.json(.POST, "/v1/workloads", token: search, body: body)
        #expect(s == 201, "\(a)")
        let id = try #require(a["id"] as? String)
        let done = try await server.waitFor(id) { ["succeeded", "failed"].contains($0["state"] as? String ?? "") }
        let log = String(decoding: try await server.http(.GET, "/v1/workloads/\(id)/logs", token: search).1, as: UTF8.self)
        #expect(done["state"] as? String == "succeeded", "\(done)\n\(log)")
        let line = try #require(log.split(separator: "\n").first { $0.hasPrefix("ATTACKS ") }, "no result line in the pod's log:\n\(log)")
        let results = try #require(try JSONSerialization.jsonObject(with: Data(line.dropFirst(8).utf8)) as? [String: Any])
        #expect(results.count >= 16, "\(results.keys.sorted())")
        for (attack, outcome) in results where attack != "controls" {
            #expect((outcome as? String)?.hasPrefix("blocked") == true, "\(attack): \(outcome)")
        }
        let controls = try #require(results["controls"] as? [String: Bool])
        #expect(controls.count == 5 && controls.values.allSatisfy { $0 }, "the pod's own sandbox must work: \(controls)")
        // The victim's secret stayed where it was, and the store took no write.
        #expect(try await server.http(.POST, "/v1/workloads/\(victimID)/cancel", token: ads).0 == 200)
        let verify = try server.cli(["audit", "verify"])
        #expect(verify.status == 0, "\(verify.stdout)")
    }

    /// The pid of the process a pod's supervisor runs (its child), once it exists.
    static func podProcess(_ pod: String) async throws -> pid_t {
        for _ in 0..<100 {
            if let s = try? String(contentsOfFile: pod + "/supervisor.pid", encoding: .utf8), let sup = pid_t(s.trimmingCharacters(in: .whitespacesAndNewlines)) {
                for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
                    guard let pid = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                          let close = stat.lastIndex(of: ")") else { continue }
                    let fields = stat[stat.index(after: close)...].split(separator: " ")
                    if fields.count > 1, pid_t(fields[1]) == sup { return pid }
                }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("no process under the supervisor of \(pod)")
    }
}
}

extension ServerTests.IsolationTests {
    @Test func withoutIsolationSeveralTeamsNeedAnExplicitFlag() async throws {
        let dir = try TemporaryDirectory()
        let refused = try Run.program(TestServer.binary, ["up", "--data", dir.path + "/data", "--port", String(try TestServer.freePort()),
                                                          "--platform", Fixtures.examplePlatform, "--isolation", "none"],
                                      environment: ["TARMAC_CREDENTIALS": dir.path + "/credentials.json", "PATH": "/usr/bin:/bin"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("WARNING: local pods are NOT isolated"), "\(refused.stderr)")
        #expect(refused.stderr.contains("the platform has 4 teams") && refused.stderr.contains("--allow-shared-machine"), "\(refused.stderr)")
        let allowed = try TestServer(arguments: ["--isolation", "none", "--allow-shared-machine"])
        try await allowed.start()
        #expect(allowed.serverLog.contains("isolation NONE"), "\(allowed.serverLog)")
    }
}
