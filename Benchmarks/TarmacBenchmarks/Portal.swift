import AsyncHTTPClient
import Foundation
import TarmacCore
import TarmacTesting

#if canImport(Glibc)
import Glibc
#endif

/// The portal's pages with many workloads stored: a release `tarmac up` whose store holds `--stored` workloads
/// (`--queued` of them waiting behind one that holds the only GPU, the rest ended, written into the store as months of
/// use leave them), a session from a one-time link, then each page asked `--requests` times one after another. The
/// time is the client's, over loopback (request to last byte): the server's time per page plus HTTP's.
func portalBenchmark(_ args: [String]) async {
    let tarmac = tarmacBinary(args)
    let stored = Int(option("--stored", args) ?? "") ?? 10_000
    let queued = Int(option("--queued", args) ?? "") ?? 200
    let requests = Int(option("--requests", args) ?? "") ?? 300
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
    do {
        let first = try await BenchServer.start(tarmac)
        try await fill(first, queued)
        let dir = first.dir
        kill(first.process.processIdentifier, SIGTERM)
        first.process.waitUntilExit()
        let ended = max(0, stored - queued - 1)
        try await storeEnded(ended, path: dir.path + "/data/tarmac.db")
        // The restart: the admin token is the first start's (a second start makes none).
        let token = first.token
        let (server, port) = try relaunch(tarmac, dir: dir)
        let url = "http://127.0.0.1:\(port)"
        defer {
            kill(server.processIdentifier, SIGTERM)
            server.waitUntilExit()
        }
        var ready = false
        for _ in 0..<1200 where !ready {
            if let r = try? await send(.GET, url + "/readyz", token: nil, body: nil), r.0 == 200 { ready = true } else { try await Task.sleep(for: .milliseconds(100)) }
        }
        guard ready else { throw BenchFailure("the restarted server did not become ready") }
        // A session, as a browser gets one: a one-time link, its cookie.
        let link = try await send(.POST, url + "/v1/portal/links", token: token, body: nil)
        guard link.0 == 201, let o = try JSONSerialization.jsonObject(with: link.1) as? [String: Any], let linkURL = o["url"] as? String else {
            throw BenchFailure("no portal link: \(link.0)")
        }
        let signIn = try await client.execute(HTTPClientRequest(url: linkURL), timeout: .seconds(30))
        guard let cookie = signIn.headers.first(name: "Set-Cookie")?.split(separator: ";").first.map(String.init) else { throw BenchFailure("no session cookie") }
        let list = try await send(.GET, url + "/v1/workloads?state=queued", token: token, body: nil)
        let queuedID = ((try JSONSerialization.jsonObject(with: list.1) as? [String: Any])?["items"] as? [[String: Any]])?.last?["id"] as? String ?? "holder"
        let pages: [(String, String)] = [
            ("My workloads, page 1 (newest 50)", "/portal/workloads"),
            ("My workloads, page 100", "/portal/workloads?page=100"),
            ("My workloads, failed only", "/portal/workloads?state=failed"),
            ("Workload (ended)", "/portal/workloads/wl-old-5000"),
            ("Workload (queued, with its estimate)", "/portal/workloads/\(queuedID)"),
            ("Workload (running)", "/portal/workloads/holder"),
            ("Queue (\(queued) waiting)", "/portal/queue"),
            ("Sizes", "/portal/sizes"),
            ("New workload", "/portal/new"),
        ]
        print("Portal pages of a release tarmac up (\(tarmac)) with \(ended + queued + 1) stored workloads (\(queued) queued, 1 running, \(ended) ended);")
        print("\(requests) requests per page, one at a time over loopback; time from request to last byte, as the client sees it")
        print("page                                       p50 ms   p99 ms   max ms   bytes  status")
        for (name, path) in pages {
            var times: [Double] = []
            var bytes = 0, status = 0
            for i in 0..<(requests + 10) {
                var req = HTTPClientRequest(url: url + path)
                req.headers.add(name: "Cookie", value: cookie)
                let t0 = now()
                let r = try await client.execute(req, timeout: .seconds(30))
                let body = try await r.body.collect(upTo: 16 << 20)
                let t = now() - t0
                if i >= 10 { times.append(t * 1000) }  // the first ten warm up
                bytes = body.readableBytes
                status = Int(r.status.code)
            }
            times.sort()
            func pct(_ p: Double) -> Double { times[min(times.count - 1, Int((Double(times.count - 1) * p).rounded()))] }
            print(name.padding(toLength: 42, withPad: " ", startingAt: 0) + String(format: " %7.2f  %7.2f  %7.2f  %6d  %d", pct(0.5), pct(0.99), times.last ?? 0, bytes, status))
        }
        _ = try? await send(.POST, url + "/v1/workloads/holder/cancel", token: token, body: nil)
        try? await Task.sleep(for: .seconds(3))
        try? await client.shutdown()
    } catch {
        try? await client.shutdown()
        print("portal benchmark failed: \(error)")
        exit(1)
    }
}
