import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TarmacTesting

#if canImport(Glibc)
import Glibc
#endif

/// The tool gateway against nginx, with one load generator (wrk) for all three: a tool server (nginx answering a small
/// JSON body, and only to the right upstream credential) reached (a) directly, (b) through nginx `proxy_pass` (adding
/// the upstream credential, keep-alive to the upstream), (c) through Tarmac's gateway (token verification, deny list,
/// scope check, upstream credential, audit record per call). Then token-exchange issuance: rate and p99 at 1 and 16
/// clients; and how long a revocation takes to refuse the next call.
func gatewayBenchmark(_ args: [String]) async {
    let tarmac = tarmacBinary(args)
    let (connections, duration, pause, nginx, wrk) = proxyBenchmarkOptions(args, name: "gateway")
    do {
        let dir = try TemporaryDirectory(prefix: "tarmac-gateway-bench")
        let secret = "upstream-" + UUID().uuidString
        let (toolPort, proxyPort, gatewayPort) = (Int.random(in: 20000..<30000), Int.random(in: 30000..<40000), Int.random(in: 40000..<50000))
        // nginx: the tool (upstream) and the proxy in front of it, in two nginx processes (each with a worker per
        // core), as the gateway is a process of its own: one nginx serving both can pass a call from proxy to tool
        // inside one worker, without the wake-up every other hop costs. --shared-nginx serves both from one.
        let shared = args.contains("--shared-nginx")
        let toolServer = """
              server {
                listen 127.0.0.1:\(toolPort);
                location / {
                  if ($http_authorization != "Bearer \(secret)") { return 401; }
                  default_type application/json;
                  return 200 '{"id":"T-1","title":"GPU quota for search","status":"open"}';
                }
              }
            """
        let proxyServer = """
              upstream tool { server 127.0.0.1:\(toolPort); keepalive 256; }
              server {
                listen 127.0.0.1:\(proxyPort);
                location /bench/ {
                  proxy_pass http://tool/;
                  proxy_http_version 1.1;
                  proxy_set_header Connection "";
                  proxy_set_header Authorization "Bearer \(secret)";
                }
              }
            """
        var nginxes: [Process] = []
        defer {
            for ng in nginxes {
                kill(ng.processIdentifier, SIGTERM)
                ng.waitUntilExit()
            }
        }
        for (name, servers) in shared ? [("nginx", toolServer + proxyServer)] : [("tool", toolServer), ("proxy", proxyServer)] {
            let prefix = dir.path + "/" + name
            try FileManager.default.createDirectory(atPath: prefix + "/logs", withIntermediateDirectories: true)
            let conf = try dir.write(name + "/nginx.conf", """
                worker_processes auto;
                error_log \(prefix)/logs/error.log warn;
                pid \(prefix)/nginx.pid;
                daemon off;
                events { worker_connections 4096; }
                http {
                  access_log off;
                  client_body_temp_path \(prefix)/body;
                  proxy_temp_path \(prefix)/proxy;
                  fastcgi_temp_path \(prefix)/fastcgi;
                  uwsgi_temp_path \(prefix)/uwsgi;
                  scgi_temp_path \(prefix)/scgi;
                  keepalive_requests 1000000;
                \(servers)
                }
                """)
            let ng = Process()
            ng.executableURL = URL(fileURLWithPath: nginx)
            ng.arguments = ["-c", conf, "-p", prefix]
            ng.standardError = FileHandle.nullDevice
            try ng.run()
            nginxes.append(ng)
        }

        // Tarmac: the example platform with a `bench` tool behind the gateway, and an agent to act for a person.
        let platformDir = dir.url.appendingPathComponent("platform")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: Fixtures.examplePlatform).deletingLastPathComponent(), to: platformDir)
        let platformFile = platformDir.appendingPathComponent("platform.yaml")
        try (try String(contentsOf: platformFile, encoding: .utf8) + """

              local: {cpu: 8, memory: 16Gi}
              tools:
                bench:
                  endpoint: http://127.0.0.1:\(toolPort)
                  upstream: http://127.0.0.1:\(toolPort)
                  upstreamCredential: BENCH_TOOL_TOKEN
                  scopes: [read]
                  routes: [{path: /, methods: [GET], scope: read}]

            """).write(to: platformFile, atomically: true, encoding: .utf8)
        setenv("BENCH_TOOL_TOKEN", secret, 1)
        let (server, base, admin) = try await BenchServer.launch(tarmac, dir: dir, platform: platformFile.path, extra: ["--gateway-port", String(gatewayPort)])
        defer { kill(server.processIdentifier, SIGTERM); server.waitUntilExit() }
        let gateway = "http://127.0.0.1:\(gatewayPort)"
        let (_, personBody) = try await send(.POST, base + "/v1/tokens", token: admin, body: #"{"role": "member", "team": "assistants", "name": "dan@acme.example"}"#)
        let person = (try JSONSerialization.jsonObject(with: personBody) as? [String: Any])?["secret"] as? String ?? ""
        let script = """
            import json, os, time, urllib.request
            b = open(os.environ['TARMAC_IDENTITY_BOOTSTRAP_FILE']).read()
            r = urllib.request.urlopen(urllib.request.Request(os.environ['TARMAC_IDENTITY_URL'] + '/v1/identity', json.dumps({'bootstrap': b}).encode(), {'Content-Type': 'application/json'}))
            open('svid.tmp', 'w').write(json.load(r)['svid']); os.replace('svid.tmp', 'svid')
            time.sleep(100000)
            """
        let scriptJSON = String(decoding: try JSONSerialization.data(withJSONObject: script, options: [.fragmentsAllowed]), as: UTF8.self)
        let agentDoc = """
            apiVersion: tarmac.dev/v1alpha1
            kind: Agent
            metadata: {name: bench-agent, team: assistants, env: dev, owner: dan@acme.example}
            spec:
              size: cpu-small
              image: docker.io/library/python:3.12-slim
              command: [python3, -c, \(scriptJSON)]
              tools: {bench: [read]}
              onBehalfOf: dan@acme.example

            """
        let (s, body) = try await send(.POST, base + "/v1/workloads", token: person, body: agentDoc)
        guard s == 201, let wid = (try JSONSerialization.jsonObject(with: body) as? [String: Any])?["id"] as? String else {
            throw BenchFailure("the agent was not accepted: \(String(decoding: body, as: UTF8.self))")
        }
        defer { runAsync { _ = try? await send(.POST, base + "/v1/workloads/\(wid)/cancel", token: admin, body: nil) } }
        let svidFile = dir.path + "/data/pods/\(wid)/1/0/box/work/svid"
        for _ in 0..<300 where !FileManager.default.fileExists(atPath: svidFile) { try await Task.sleep(for: .milliseconds(100)) }
        let svid = try String(contentsOfFile: svidFile, encoding: .utf8)
        @Sendable func exchange() async throws -> String {
            let form = ["grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "subject_token": person,
                        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token", "actor_token": svid,
                        "actor_token_type": "urn:ietf:params:oauth:token-type:jwt", "audience": "bench", "scope": "read"]
                .map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)" }.joined(separator: "&")
            let (st, b) = try await send(.POST, base + "/v1/token", token: nil, body: form, headers: [("Content-Type", "application/x-www-form-urlencoded")])
            guard st == 200, let t = (try JSONSerialization.jsonObject(with: b) as? [String: Any])?["access_token"] as? String else {
                throw BenchFailure("exchange answered \(st): \(String(decoding: b, as: UTF8.self))")
            }
            return t
        }
        let token = try await exchange()
        // Each path answers before it is measured.
        for (url, auth) in [("http://127.0.0.1:\(toolPort)/tickets/T-1", secret), ("http://127.0.0.1:\(proxyPort)/bench/tickets/T-1", ""), (gateway + "/bench/tickets/T-1", token)] {
            let (st, _) = try await send(.GET, url, token: auth.isEmpty ? nil : auth, body: nil)
            guard st == 200 else { throw BenchFailure("\(url) answered \(st)") }
        }

        print("Tool calls, one load generator (wrk -t1 -d \(duration) --latency), 2 cores shared by the load, nginx and Tarmac:")
        print("(a) direct to the tool; (b) nginx proxy_pass adding the upstream credential (\(shared ? "in the tool's nginx" : "an nginx of its own")); (c) Tarmac's gateway: ES256 token for")
        print("the tool (person -> agent), deny list, scope of the route, upstream credential, one audit record per call.")
        print("The CPU a call costs the proxy (user + system time of its processes over the run / calls) is given for (b) and (c).")
        print("connections   (a) req/s   p50 ms   p99 ms   (b) nginx req/s   p50 ms   p99 ms   (c) gateway req/s   p50 ms   p99 ms   added p50/p99 vs (a)   (c)/(b)   CPU µs/call (b)  (c)")
        let proxyProcesses = shared ? [] : [nginxes[1].processIdentifier]
        for n in connections {
            let a = try runWrk(wrk, "http://127.0.0.1:\(toolPort)/tickets/T-1", auth: secret, connections: n, duration: duration)
            let b0 = cpuSeconds(proxyProcesses)
            let b = try runWrk(wrk, "http://127.0.0.1:\(proxyPort)/bench/tickets/T-1", auth: nil, connections: n, duration: duration)
            let bCPU = shared ? Double.nan : (cpuSeconds(proxyProcesses) - b0) / Double(max(1, b.requests)) * 1e6
            let c0 = cpuSeconds([server.processIdentifier])
            let c = try runWrk(wrk, gateway + "/bench/tickets/T-1", auth: token, connections: n, duration: duration)
            let cCPU = (cpuSeconds([server.processIdentifier]) - c0) / Double(max(1, c.requests)) * 1e6
            print(String(format: "%11d   %9.0f   %6.3f   %6.3f   %15.0f   %6.3f   %6.3f   %17.0f   %6.3f   %6.3f   %+7.3f / %+7.3f ms   %5.2fx   %15.1f  %5.1f",
                         n, a.rate, a.p50, a.p99, b.rate, b.p50, b.p99, c.rate, c.p50, c.p99, c.p50 - a.p50, c.p99 - a.p99, c.rate / b.rate, bCPU, cCPU))
            if a.errors + b.errors + c.errors > 0 { print("   non-2xx or socket errors: direct \(a.errors), nginx \(b.errors), gateway \(c.errors)") }
        }

        // Paced: the added latency of one call when the gateway is not saturated. At full load (above) the latency of
        // 16 connections is mostly the queue in front of the slowest part (connections / rate).
        let paced = try dir.write("paced.lua", "function delay()\n  return \(pause)\nend\n")
        print("Paced: each connection waits \(pause) ms after each answer before its next call (wrk's delay hook), so no path is saturated:")
        print("connections   (a) req/s   p50 ms   p99 ms   (b) nginx req/s   p50 ms   p99 ms   (c) gateway req/s   p50 ms   p99 ms   (b) added p50/p99   (c) added p50/p99")
        for n in connections {
            let a = try runWrk(wrk, "http://127.0.0.1:\(toolPort)/tickets/T-1", auth: secret, connections: n, duration: duration, script: paced)
            let b = try runWrk(wrk, "http://127.0.0.1:\(proxyPort)/bench/tickets/T-1", auth: nil, connections: n, duration: duration, script: paced)
            let c = try runWrk(wrk, gateway + "/bench/tickets/T-1", auth: token, connections: n, duration: duration, script: paced)
            print(String(format: "%11d   %9.0f   %6.3f   %6.3f   %15.0f   %6.3f   %6.3f   %17.0f   %6.3f   %6.3f   %+7.3f / %+7.3f ms   %+7.3f / %+7.3f ms",
                         n, a.rate, a.p50, a.p99, b.rate, b.p50, b.p99, c.rate, c.p50, c.p99, b.p50 - a.p50, b.p99 - a.p99, c.p50 - a.p50, c.p99 - a.p99))
            if a.errors + b.errors + c.errors > 0 { print("   non-2xx or socket errors: direct \(a.errors), nginx \(b.errors), gateway \(c.errors)") }
        }

        print("Token exchange (POST /v1/token: person's token + agent's JWT-SVID -> ES256 token for one tool, audited):")
        print("clients   tokens/s   p50 ms   p99 ms")
        for n in [1, 16] {
            let r = try await measure(n, 2000) { _, _ in _ = try await exchange() }
            print(String(format: "%7d   %8.0f   %6.2f   %6.2f", n, r.rate, r.p50, r.p99))
        }

        // Revocation: a caller keeps calling; the grant is revoked; how long from the revoke request until a call is refused.
        let (_, grants) = try await send(.GET, base + "/v1/grants?tool=bench", token: admin, body: nil)
        let gid = ((try JSONSerialization.jsonObject(with: grants) as? [String: Any])?["items"] as? [[String: Any]])?.first?["id"] as? String ?? ""
        let live = try await exchange()
        let clock = ContinuousClock()
        let t0 = clock.now
        let (rs, _) = try await send(.POST, base + "/v1/grants/\(gid)/revoke", token: admin, body: nil)
        let answered = clock.now - t0
        var refusedAfter: Duration?
        for _ in 0..<1000 where refusedAfter == nil {
            let (st, _) = try await send(.GET, gateway + "/bench/tickets/T-1", token: live, body: nil)
            if st == 403 { refusedAfter = clock.now - t0 }
        }
        print("Revocation: revoke answered \(rs) in \(ms(answered)) ms; the next call was refused \(refusedAfter.map { "\(ms($0)) ms" } ?? "never") after the revoke was sent (the token had \(15 * 60 - 5)+ s to live)")
    } catch {
        print("gateway failed: \(error)")
        exit(1)
    }
}

/// The options and tools a proxy benchmark shares: connections, duration, the paced pause, nginx and wrk.
func proxyBenchmarkOptions(_ args: [String], name: String) -> (connections: [Int], duration: String, pause: Int, nginx: String, wrk: String) {
    let connections = (option("--connections", args) ?? "1,16,64").split(separator: ",").compactMap { Int($0) }
    let duration = option("--duration", args) ?? "10s"
    guard let pause = Int(option("--paced", args) ?? "10"), pause >= 0 else {
        print("--paced takes the milliseconds each connection waits between calls, a whole number (10 when not given)")
        exit(64)
    }
    guard let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }),
          let wrk = ["/usr/bin/wrk", "/usr/local/bin/wrk"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        print("\(name) needs Debian's nginx and wrk: apt-get install nginx-light wrk")
        exit(64)
    }
    return (connections, duration, pause, nginx, wrk)
}

func ms(_ d: Duration) -> String { String(format: "%.2f", Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15) }

struct WrkResult {
    var rate: Double
    var p50: Double
    var p99: Double
    var errors: Int
    /// Calls answered in the run.
    var requests: Int
}

/// CPU seconds (user and system) that processes and their children (nginx's workers) have used so far.
func cpuSeconds(_ pids: [pid_t]) -> Double {
    let tick = Double(sysconf(Int32(_SC_CLK_TCK)))
    var total = 0.0
    func add(_ pid: pid_t) {
        // /proc/PID/stat: "pid (comm) state ... utime stime ..."; utime and stime are fields 14 and 15.
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        if fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) { total += (user + system) / tick }
        let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        for child in children.split(separator: " ").compactMap({ pid_t($0) }) { add(child) }
    }
    pids.forEach(add)
    return total
}

/// wrk's requests/s and latency percentiles (ms) from its --latency report.
func runWrk(_ wrk: String, _ url: String, auth: String?, connections: Int, duration: String, script: String? = nil) throws -> WrkResult {
    var arguments = ["-t1", "-c\(connections)", "-d\(duration)", "--latency"]
    if let script { arguments += ["-s", script] }
    if let auth { arguments += ["-H", "Authorization: Bearer \(auth)"] }
    let r = try Run.program(wrk, arguments + [url])
    func latency(_ label: String) -> Double {
        guard let line = r.stdout.split(separator: "\n").first(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix(label) }),
              let v = line.split(separator: " ", omittingEmptySubsequences: true).last else { return .nan }
        let s = String(v)
        if s.hasSuffix("us") { return (Double(s.dropLast(2)) ?? .nan) / 1000 }
        if s.hasSuffix("ms") { return Double(s.dropLast(2)) ?? .nan }
        if s.hasSuffix("s") { return (Double(s.dropLast(1)) ?? .nan) * 1000 }
        return .nan
    }
    let rate = r.stdout.split(separator: "\n").first { $0.hasPrefix("Requests/sec:") }.flatMap { Double($0.split(separator: " ").last ?? "") } ?? .nan
    var errors = 0
    for line in r.stdout.split(separator: "\n") where line.contains("Non-2xx") || line.contains("Socket errors") {
        errors += line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }.reduce(0, +)
    }
    let requests = r.stdout.split(separator: "\n").first { $0.contains(" requests in ") }
        .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true).first ?? "") } ?? 0
    return WrkResult(rate: rate, p50: latency("50%"), p99: latency("99%"), errors: errors, requests: requests)
}
