import Foundation
import TarmacAPI
import TarmacSimulator
import TarmacTesting

#if canImport(Glibc)
import Glibc
#endif

/// Kueue's scheduler scenario in real time through the real control plane: a `tarmac up` with the simulated backend
/// (benchmark only: pods run no process, a `sleep N` pod ends after N seconds), 30 teams in 5 cohorts on 600 CPU, and
/// the 15,000 workloads submitted over HTTP at their arrival times. Wall time, usage and time to admission per class.
func kueueLiveBenchmark(_ args: [String]) async {
    let tarmac = tarmacBinary(args)
    let senders = Int(option("--senders", args) ?? "") ?? 64
    let preemption = args.contains("--preemption")
    let queues = 30, perCohort = 6, nodes = 6
    var teams = ""
    for q in 0..<queues {
        teams += "    cq-\(q): {members: [owner-\(q)@bench.example], quota: {cpu: 20, memory: 1Ti}, cohort: cohort-\(q / perCohort), borrowingLimit: {cpu: 100}}\n"
    }
    let platform = """
    apiVersion: tarmac.dev/v1alpha1
    kind: Platform
    metadata: {name: kueue-scenario}
    spec:
      pools:
        cpu: {cpuPerNode: \(queues * 20 / nodes), memoryPerNode: 1Ti, nodes: \(nodes), nodeSelector: {tarmac.dev/pool: cpu}, classes: [batch]}
      sizes:
        batch:
          small:  {cpu: 1, memory: 64Mi}
          medium: {cpu: 5, memory: 64Mi}
          large:  {cpu: 20, memory: 64Mi}
      priorities: {small: 50, medium: 100, large: 200}
      preemption: {nonPreempting: [\(preemption ? "" : "small, medium, large")]}
      defaults:
        priority: {training: small, batch: small, inference: small, agent: small}
      environments:
        dev: {}
      teams:

    """ + teams
    struct Arrival: Sendable {
        var at: Double
        var doc: String
        var workloadClass: String
        var cpu: Double
    }
    var arrivals: [Arrival] = []
    for q in 0..<queues {
        for c in KueueScenario.classes {
            for i in 0..<c.count {
                let doc = """
                apiVersion: tarmac.dev/v1alpha1
                kind: BatchJob
                metadata: {name: \(c.name)-\(i), team: cq-\(q), env: dev, owner: owner-\(q)@bench.example}
                spec:
                  size: \(c.name)
                  priority: \(c.name)
                  image: docker.io/library/busybox:1.37
                  command: [sleep, "\(Double(c.runs) / 1000)"]

                """
                arrivals.append(Arrival(at: Double(Int64(i) * c.every) / 1000, doc: doc, workloadClass: c.name, cpu: Double(c.cpu)))
            }
        }
    }
    arrivals.sort { $0.at < $1.at }
    let runs = Dictionary(uniqueKeysWithValues: KueueScenario.classes.map { ($0.name, Double($0.runs) / 1000) })
    let work = arrivals.reduce(0) { $0 + $1.cpu * runs[$1.workloadClass]! }
    do {
        let dir = try TemporaryDirectory(prefix: "tarmac-kueue")
        let platformFile = dir.path + "/platform.yaml"
        try platform.write(toFile: platformFile, atomically: true, encoding: .utf8)
        let (server, base, token) = try await BenchServer.launch(tarmac, dir: dir, platform: platformFile, extra: ["--backend", "simulated"])
        defer {
            kill(server.processIdentifier, SIGTERM)
            server.waitUntilExit()
        }
        print("Kueue's scheduler scenario live: \(arrivals.count) workloads (\(queues) teams in \(queues / perCohort) cohorts) submitted over HTTP at their")
        print("arrival times to a release `tarmac up --backend simulated` (SIMULATED backend, benchmark only: pods run no process;")
        print("a `sleep N` pod ends N seconds after launch), \(queues * 20) CPU on \(nodes) nodes; \(senders) concurrent senders; store: SQLite, fsync;")
        print(preemption ? "priorities preempt lower ones (--preemption)"
                         : "non-preempting priorities (the contract's preemption.nonPreempting; --preemption: they preempt lower ones, as Kueue's configuration lets them)")
        let start = Date()
        let clock = ContinuousClock()
        let t0 = clock.now
        let next = Counter()
        let list = arrivals
        var late: [Double] = []
        try await withThrowingTaskGroup(of: [Double].self) { group in
            for _ in 0..<senders {
                group.addTask {
                    var lateness: [Double] = []
                    while true {
                        let i = await next.take()
                        guard i < list.count else { return lateness }
                        let a = list[i]
                        let due = t0 + .milliseconds(Int64(a.at * 1000))
                        if clock.now < due { try await Task.sleep(until: due, clock: clock) }
                        lateness.append(Double((clock.now - due).components.attoseconds) / 1e15 + Double((clock.now - due).components.seconds) * 1000)
                        let r = try await send(.POST, base + "/v1/workloads", token: token, body: a.doc)
                        guard r.0 == 201 else { throw BenchFailure("submit answered \(r.0): \(String(decoding: r.1, as: UTF8.self))") }
                    }
                }
            }
            for try await part in group { late += part }
        }
        let submitted = Date().timeIntervalSince(start)
        // Wait until every workload ended, watching the queue and running gauges (a cheap read: the full list is
        // fetched once, at the end, so that the benchmark does not load the server it measures).
        var items: [WorkloadView] = []
        while true {
            try await Task.sleep(for: .milliseconds(500))
            let m = try await send(.GET, base + "/metrics", token: token, body: nil)
            let text = String(decoding: m.1, as: UTF8.self)
            let waiting = text.split(separator: "\n").filter { $0.hasPrefix("tarmac_queue_depth{") || $0.hasPrefix("tarmac_running_workloads{") }
                .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
            if waiting == 0 {
                let r = try await send(.GET, base + "/v1/workloads", token: token, body: nil)
                items = try APIJSON.decoder.decode(WorkloadList.self, from: r.1).items
                if items.count == arrivals.count && items.allSatisfy(\.isTerminal) { break }
            }
            if Date().timeIntervalSince(start) > 900 { throw BenchFailure("not done after 900 s") }
        }
        if let dump = option("--dump", args) {
            try APIJSON.encoder.encode(WorkloadList(items: items)).write(to: URL(fileURLWithPath: dump))
        }
        let failed = items.filter { $0.state != "succeeded" }
        let end = items.compactMap(\.finishedAt).max() ?? Date()
        let wall = end.timeIntervalSince(start)
        let cpuOf = ["small": 1.0, "medium": 5.0, "large": 20.0]
        var busy = 0.0
        var waits: [String: [Double]] = [:]
        for w in items {
            guard let s = w.startedAt ?? w.admittedAt, let f = w.finishedAt else { continue }
            busy += (cpuOf[w.size] ?? 0) * f.timeIntervalSince(s)
            if let a = w.admittedAt { waits[w.size, default: []].append(a.timeIntervalSince(w.createdAt)) }
        }
        let usage = busy / (Double(queues * 20) * wall) * 100
        // CPU in use over time, in 10 s steps from the first submit.
        var buckets = Array(repeating: 0.0, count: Int(wall / 10) + 1)
        for w in items {
            guard let s = w.startedAt ?? w.admittedAt, let f = w.finishedAt else { continue }
            let a = s.timeIntervalSince(start), b = f.timeIntervalSince(start), cpu = cpuOf[w.size] ?? 0
            var k = Int(max(0, a) / 10)
            while k < buckets.count && Double(k) * 10 < b {
                buckets[k] += cpu * (min(b, Double(k + 1) * 10) - max(a, Double(k) * 10))
                k += 1
            }
        }
        late.sort()
        print("")
        print("                          Tarmac live   Kueue (published)")
        print(String(format: "wall time                 %8.1f s     351 s   (the work is %.0f CPU·s: %.1f s on %d CPU at best)", wall, work, work / Double(queues * 20), queues * 20))
        print(String(format: "CPU usage                 %8.1f %%     55.9 %%   (CPU held from start to recorded end; the work alone is %.1f %% of %d CPU x wall)",
                     usage, work / (Double(queues * 20) * wall) * 100, queues * 20))
        for (c, kueue) in [("large", 16.5), ("medium", 76.8), ("small", 215.5)] {
            let ws = waits[c] ?? []
            print(String(format: "avg time to admission %-6@ %6.1f s   %6.1f s", c as NSString, ws.isEmpty ? 0 : ws.reduce(0, +) / Double(ws.count), kueue))
        }
        print(String(format: "submitting took %.1f s (the last arrival is at %.1f s); sends late by p50 %.1f ms, p99 %.1f ms; %d did not succeed",
                     submitted, arrivals.last!.at, late.isEmpty ? 0 : late[late.count / 2], late.isEmpty ? 0 : late[Int(Double(late.count - 1) * 0.99)], failed.count))
        print("CPU in use per 10 s from the first submit (of \(queues * 20)): " + buckets.map { String(format: "%.0f", $0 / 10) }.joined(separator: " "))
        if let f = failed.first { print("first that did not succeed: \(f.name) (\(f.team)): \(f.state) \(f.message ?? "")") }
    } catch {
        print("kueue --live failed: \(error)")
        exit(1)
    }
}

actor Counter {
    private var n = 0
    func take() -> Int {
        defer { n += 1 }
        return n
    }
}
