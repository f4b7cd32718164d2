import Foundation
import TarmacTesting
import Testing

/// The portal in a real headless Chromium (Debian's `chromium` and `chromium-driver`, driven by Python's selenium from
/// Tests/Support/portal_browser.py) against a real `tarmac up`: sign-in, Sizes, the form's diagnostics and feasibility,
/// a row going queued → running → succeeded without a reload, logs, cancel, another team's workload, escaping, CSRF and
/// cross-origin posts, sign-out and revocation. Screenshots of every page at desktop and phone widths are saved to the
/// folder the test prints (TARMAC_SCREENSHOTS, default: the temporary directory's tarmac-portal-screenshots).
@Suite(.serialized) struct PortalBrowserTests {
    static let python = Run.which("python3") ?? "/usr/bin/python3"
    static let chromium = ProcessInfo.processInfo.environment["CHROMIUM"] ?? "/usr/bin/chromium"
    static let chromedriver = ProcessInfo.processInfo.environment["CHROMEDRIVER"] ?? "/usr/bin/chromedriver"
    static let available: Bool = {
        FileManager.default.isExecutableFile(atPath: chromium) && FileManager.default.isExecutableFile(atPath: chromedriver)
            && ((try? Run.program(python, ["-c", "import selenium"]))?.status == 0)
    }()
    static var screenshots: String {
        ProcessInfo.processInfo.environment["TARMAC_SCREENSHOTS"] ?? FileManager.default.temporaryDirectory.appendingPathComponent("tarmac-portal-screenshots").path
    }

    func submit(_ s: TestServer, _ name: String, team: String, _ script: String) throws -> String {
        let doc = """
        apiVersion: tarmac.dev/v1alpha1
        kind: BatchJob
        metadata: {name: \(name), team: \(team), env: dev}
        spec:
          size: cpu-small
          image: docker.io/library/python:3.12-slim
          command: [python3, -c, '\(script)']
          maxDuration: 10m
        """
        let file = try s.dir.write("\(name).yaml", doc)
        let r = try s.cli(["submit", file, "-o", "json"], token: try s.adminToken)
        guard r.status == 0, let o = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], let id = o["id"] as? String else {
            throw TestFailure("submit \(name) failed: \(r.stdout) \(r.stderr)")
        }
        return id
    }

    @Test(.enabled(if: available, "needs chromium, chromium-driver and Python's selenium (.ci/run installs them)"))
    func aMemberUsesThePortalInARealBrowser() async throws {
        // The inference gateway, so that Rollouts are served; prod's promotion contract asks for an owner.
        let s = try TestServer(arguments: ["--inference-port", String(try TestServer.freePort())])
        s.platform = try s.dir.write("platform.yaml", """
            apiVersion: tarmac.dev/v1alpha1
            kind: Platform
            metadata: {name: acme}
            spec:
              extends: [\(Fixtures.examplePlatform)]
              environments:
                prod:
                  promotion: {requireOwner: true}
            """)
        try await s.start()
        defer { s.stop(signal: SIGTERM) }
        let admin = try s.adminToken
        let created = try s.cli(["token", "create", "--name", "alice", "--role", "member", "--team", "search", "-o", "json"], token: admin)
        guard let member = try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any],
              let secret = member["secret"] as? String, let tokenID = member["id"] as? String else {
            throw TestFailure("token create: \(created.stdout) \(created.stderr)")
        }
        let other = try submit(s, "other", team: "ads", "import time; time.sleep(600)")
        let cancel = try submit(s, "cancel-me", team: "search", "import time; time.sleep(600)")
        let keep = try submit(s, "keep-me", team: "search", "import time; time.sleep(600)")
        let xss = try submit(s, "xss-log", team: "search",
                             #"print("<script>window.__xss=2</script>"); print(chr(34) + "><img src=x onerror=" + chr(34) + "window.__xss=3" + chr(34) + ">")"#)
        _ = try await s.waitFor(xss) { $0["state"] as? String == "succeeded" }
        try s.dir.write("ranker/weights.bin", String(repeating: "w", count: 1000))
        let registered = try s.cli(["model", "register", "ranker", "--version", "1.0.0", "--path", s.dir.path + "/ranker"], token: secret)
        #expect(registered.status == 0, "\(registered.stderr)")

        // The folder the form uploads as the working directory: code that reads a file of its own.
        try s.dir.write("code/train.py", """
            import time
            print("step 1", flush=True)
            print("read from data/input.txt:", open("data/input.txt").read().strip(), flush=True)
            time.sleep(4)
            print("done")
            """)
        try s.dir.write("code/data/input.txt", "portal input\n")
        let shots = Self.screenshots
        try? FileManager.default.removeItem(atPath: shots)
        let config: [String: Any] = [
            "url": s.url, "member": ["token": secret, "tokenId": tokenID], "admin": admin, "otherTeamWorkload": other, "cancelWorkload": cancel,
            "keepWorkload": keep, "xssWorkload": xss, "screenshots": shots, "model": "ranker", "workdirFolder": s.dir.path + "/code",
        ]
        let arg = String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self)
        let r = try Run.program(Self.python, [Fixtures.path("Tests/Support/portal_browser.py"), arg],
                                environment: ProcessInfo.processInfo.environment.merging(["CHROMIUM": Self.chromium, "CHROMEDRIVER": Self.chromedriver]) { $1 })
        print("portal screenshots (desktop and phone widths): \(shots)")
        guard let line = r.stdout.split(separator: "\n").last, let out = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let checks = out["checks"] as? [String: Any], let pages = out["pages"] as? [String: Int] else {
            throw TestFailure("the browser script printed no result (exit \(r.status)):\n\(r.stdout.suffix(3000))\n\(r.stderr.suffix(3000))")
        }
        let expected = [
            "unsigned goes to sign-in", "a wrong token is refused", "signed in", "cookie is HttpOnly and SameSite=Strict", "sizes lists cpu-small with what it is",
            "image typo diagnosed next to the field", "a name with markup is diagnosed as text", "form shows typed markup escaped", "fits now after the fix",
            "an estimated start is shown", "the diagnostic is gone after the fix", "the preview is the document", "submitted to the workload's page",
            "row went queued, running, succeeded live", "no reload", "its log is shown", "a log line with markup is shown as text", "log shows markup escaped",
            "raw log is plain text", "cancelled from its page", "another team's workload is a 403 page", "queue shows quota bars",
            "a post without the CSRF token is refused", "a post from another origin is refused", "a cross-site post without Origin is refused",
            "after sign-out the old cookie is refused", "after sign-out the live stream is refused", "a new session works",
            "after the token is revoked the old cookie is refused", "a member has no Audit page", "the admin's navigation has every page",
            "prod's gates are shown and one refuses", "promoted to dev from the page", "rollouts page", "costs by team with a chart",
            "audit verifies and lists the promotion", "the admin is shown without a team", "every control of every page has a label", "the folder is packed and uploaded", "it ran the uploaded folder's code",
        ]
        for name in expected {
            #expect(checks[name] as? Bool == true, "\(name): \(checks[name].map { "\($0)" } ?? "not run")")
        }
        #expect(Set(checks.keys) == Set(expected), "checks run: \(checks.keys.sorted())")
        // Every page under 100 KB (the HTML as served; the portal has no images).
        #expect(pages.count >= 13, "pages measured: \(pages)")
        for (page, bytes) in pages { #expect(bytes < 100_000, "\(page) weighs \(bytes) bytes") }
        let shotFiles = (try? FileManager.default.contentsOfDirectory(atPath: shots)) ?? []
        #expect(shotFiles.filter { $0.hasSuffix("-phone.png") }.count == pages.count && shotFiles.filter { $0.hasSuffix("-desktop.png") }.count == pages.count)
        // The refused posts changed nothing; the one from the page did.
        let kept = try await s.waitFor(keep) { _ in true }
        #expect(kept["state"] as? String == "running" && kept["cancelRequested"] as? Bool != true)
        let cancelled = try await s.waitFor(cancel) { $0["state"] as? String == "cancelled" }
        #expect(cancelled["state"] as? String == "cancelled")
        _ = try s.cli(["cancel", keep, other], token: admin)
    }
}
