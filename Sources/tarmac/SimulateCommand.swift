import ArgumentParser
import Foundation
import TarmacContract
import TarmacPlanning
import TarmacEngine
import TarmacModel
import TarmacSimulator

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run the admission engine in virtual time, on a trace or on a contract's inventory.",
        discussion: """
        With --trace, runs the FGD paper's experiment on the Alibaba GPU trace: the pod list (plus samples) arrives until 130% of the cluster's GPU is requested; reports the GPU allocated at 100% and 130% of arrivals, per policy (mean over seeds).

        With --platform, builds the cluster from the contract's pools and quotas from its teams, draws synthetic workloads from its sizes, and reports allocation, fragmentation, waits per team and class, preemptions and lost GPU-hours. --add POOL=N adds nodes: what if we add 4 H100 nodes? A team's budget in GPU-hours holds its work once used, as tarmac up does.

        Examples:
          tarmac simulate --trace alibaba:DIR --policy all --seeds 3
          export TARMAC_PLATFORM=examples/platform/platform.yaml
          tarmac simulate --workloads 2000
          tarmac simulate --add train-h100=4 --json
        """)

    @Option(name: .long, help: "A trace: alibaba:DIR (the directory holding csv/).")
    var trace: String?

    @Option(name: .long, help: "Pod list of the trace (default: default).")
    var list: String = "default"

    @OptionGroup var platform: PlatformOption

    @Option(name: .long, help: "Placement policy: \(PolicyName.allCases.map(\.rawValue).joined(separator: ", ")), or all.")
    var policy: String = "Tarmac"

    @Option(name: .long, help: "First seed.")
    var seed: UInt64 = 42

    @Option(name: .long, help: "Number of seeds (trace mode).")
    var seeds: Int = 1

    @Option(name: .long, help: "Synthetic workloads (platform mode).")
    var workloads: Int = 1000

    @Option(name: .long, help: "Hours over which they arrive (platform mode).")
    var hours: Double = 8

    @Option(name: .long, help: "Share of synthetic workloads that fail partway (platform mode, 0 to 1).")
    var failureRate: Double = 0.05

    @Option(name: .long, help: "Extra nodes for a pool, as POOL=N (platform mode; repeatable).")
    var add: [String] = []

    @Flag(name: .long, help: "Print JSON instead of tables.")
    var json = false

    func validate() throws {
        if (trace == nil) == (platform.path == nil) { throw ValidationError("give exactly one of --trace alibaba:DIR and --platform FILE") }
        if seeds < 1 { throw ValidationError("--seeds must be at least 1") }
        if !(0...1).contains(failureRate) { throw ValidationError("--failure-rate must be between 0 and 1") }
        _ = try policies()
    }

    func policies() throws -> [PolicyName] {
        if policy.lowercased() == "all" { return PolicyName.allCases }
        guard let p = PolicyName.named(policy) else {
            throw ValidationError("unknown policy '\(policy)'" + Suggestions.hint(for: policy, in: PolicyName.allCases.map(\.rawValue), noun: "policies"))
        }
        return [p]
    }

    func run() throws {
        if let trace { try runTrace(trace) } else { try runPlatform(try platform.required()) }
    }

    func runTrace(_ spec: String) throws {
        guard spec.hasPrefix("alibaba:") else { throw ValidationError("--trace must be alibaba:DIR") }
        let dir = AlibabaTrace.csvDirectory(String(spec.dropFirst("alibaba:".count)))
        let nodesFile = dir + "/openb_node_list_gpu_node.csv", podsFile = dir + "/openb_pod_list_\(list).csv"
        guard FileManager.default.fileExists(atPath: nodesFile) else { throw ValidationError("no trace at \(dir): openb_node_list_gpu_node.csv is missing") }
        guard FileManager.default.fileExists(atPath: podsFile) else {
            throw ValidationError("no pod list '\(list)'" + Suggestions.hint(for: list, in: AlibabaTrace.podLists(in: dir), noun: "pod lists"))
        }
        let experiment: AllocationExperiment
        do { experiment = AllocationExperiment(nodes: try AlibabaTrace.loadNodes(nodesFile), pods: try AlibabaTrace.loadPods(podsFile)) } catch {
            throw ValidationError("\(error)")
        }
        let names = try policies()
        let progress = Progress(total: names.count * seeds)
        var rows: [[String: KValueLike]] = []
        for name in names {
            var results: [AllocationExperiment.Result] = []
            for s in 0..<seeds {
                results.append(experiment.run(name, seed: seed + UInt64(s)))
                progress.step("\(name.rawValue) seed \(seed + UInt64(s))")
            }
            let n = Double(results.count)
            rows.append(["policy": .s(name.rawValue), "allocationAt100": .d(results.map { $0.allocation(at: 100) }.reduce(0, +) / n),
                         "allocationAt130": .d(results.map(\.final).reduce(0, +) / n), "seeds": .i(results.count),
                         "skipped": .i(results.map(\.skipped).reduce(0, +) / results.count)])
        }
        progress.done()
        if json { return print(KValueLike.json(["trace": .s(list), "nodes": .i(experiment.cluster.count), "gpus": .i(experiment.cluster.totalGPUMilli / 1000), "policies": .list(rows.map { .object($0) })])) }
        print("\(list): \(experiment.cluster.count) GPU nodes, \(experiment.cluster.totalGPUMilli / 1000) GPUs, \(experiment.pods.count) pods; mean of \(seeds) seed(s)")
        print(Terminal.table(["POLICY", "ALLOCATED @100%", "ALLOCATED @130%", "SKIPPED PODS"], rows.map { r in
            [r["policy"]!.text, String(format: "%.2f%%", r["allocationAt100"]!.number), String(format: "%.2f%%", r["allocationAt130"]!.number), r["skipped"]!.text]
        }))
    }

    func runPlatform(_ path: String) throws {
        let loaded = ContractLoader.load(path)
        guard let contract = loaded.contract else {
            for d in loaded.diagnostics { print(Terminal.render(d)) }
            throw ExitCode(1)
        }
        var extra: [String: Int] = [:]
        for a in add {
            let parts = a.split(separator: "=")
            guard parts.count == 2, let n = Int(parts[1]), n >= 0 else { throw ValidationError("--add takes POOL=N, got '\(a)'") }
            let pool = String(parts[0])
            guard contract.platform.pools[pool] != nil else {
                throw ValidationError("unknown pool '\(pool)'" + Suggestions.hint(for: pool, in: contract.platform.pools.keys, noun: "pools"))
            }
            extra[pool, default: 0] += n
        }
        let inventory = ContractInventory(platform: contract.platform, extraNodes: extra)
        let load = inventory.synthetic(count: workloads, span: Int64(hours * 3_600_000), meanDuration: 3_600_000, seed: seed, failureRate: failureRate)
        let progress = Progress(total: 100)
        var reports: [SimulationReport] = []
        for name in try policies() {
            var sim = Simulation(cluster: inventory.cluster, quotas: inventory.quotas, workloads: load, policy: name, seed: seed)
            // Teams' budgets in GPU-hours hold them as `tarmac up` does, over the whole replay (money is not replayed).
            sim.budgets = contract.platform.teams.values.reduce(into: [:]) { b, t in if let h = t.budget?.gpuHours { b[t.name] = h } }
            reports.append(sim.run { f in
                progress.set(Int(f * 100), name.rawValue)
            })
        }
        progress.done()
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            let summaries = reports.map { r in
                Summary(policy: r.policy, gpuAllocation: r.gpuAllocation, cpuAllocation: r.cpuAllocation, fragmentation: r.fragmentation,
                        makespanHours: Double(r.makespan) / 3_600_000, completed: r.completed, failed: r.failed, neverAdmitted: r.neverAdmitted,
                        preemptions: r.preemptions, lostGPUHours: r.lostGPUHours,
                        budgetHeldAtHours: r.budgetHolds.isEmpty ? nil : r.budgetHolds.mapValues { Double($0) / 3_600_000 },
                        waits: r.waitStats { "\($0.team)/\($0.workloadClass)" }.map { .init(group: $0.key, count: $0.count, p50Minutes: Double($0.p50) / 60_000, p95Minutes: Double($0.p95) / 60_000, p99Minutes: Double($0.p99) / 60_000) })
            }
            return print(String(decoding: try enc.encode(summaries), as: UTF8.self))
        }
        print("\(contract.platform.name): \(inventory.cluster.count) nodes, \(inventory.cluster.totalGPUMilli / 1000) GPUs\(extra.isEmpty ? "" : " (with " + extra.sorted { $0.key < $1.key }.map { "+\($0.value) \($0.key)" }.joined(separator: ", ") + ")"); \(load.count) workloads over \(hours) h")
        print(Terminal.table(["POLICY", "GPU ALLOC", "CPU ALLOC", "FRAGMENTED", "MAKESPAN", "DONE", "FAILED", "NEVER RAN", "PREEMPTIONS", "LOST GPU-H"], reports.map { r in
            [r.policy, String(format: "%.1f%%", r.gpuAllocation), String(format: "%.1f%%", r.cpuAllocation), String(format: "%.2f%%", r.fragmentation),
             String(format: "%.1f h", Double(r.makespan) / 3_600_000), "\(r.completed)", "\(r.failed)", "\(r.neverAdmitted)", "\(r.preemptions)", String(format: "%.1f", r.lostGPUHours)]
        }))
        for r in reports {
            for (team, at) in r.budgetHolds.sorted(by: { $0.key < $1.key }) {
                print("\(r.policy): team \(team) used its \(String(format: "%g", contract.platform.teams[team]?.budget?.gpuHours ?? 0)) GPU-hours at \(String(format: "%.1f", Double(at) / 3_600_000)) h; its later work waited (reason budget)")
            }
            print("\nqueue wait (minutes), \(r.policy):")
            print(Terminal.table(["TEAM/CLASS", "N", "P50", "P95", "P99"], r.waitStats { "\($0.team)/\($0.workloadClass)" }.map {
                [$0.key, "\($0.count)", String(format: "%.1f", Double($0.p50) / 60_000), String(format: "%.1f", Double($0.p95) / 60_000), String(format: "%.1f", Double($0.p99) / 60_000)]
            }))
        }
    }

    struct Summary: Encodable {
        struct WaitRow: Encodable { var group: String; var count: Int; var p50Minutes: Double; var p95Minutes: Double; var p99Minutes: Double }
        var policy: String
        var gpuAllocation: Double
        var cpuAllocation: Double
        var fragmentation: Double
        var makespanHours: Double
        var completed: Int
        var failed: Int
        var neverAdmitted: Int
        var preemptions: Int
        var lostGPUHours: Double
        /// When each team with a budget in GPU-hours used it up (hours into the replay).
        var budgetHeldAtHours: [String: Double]?
        var waits: [WaitRow]
    }
}

/// A minimal JSON value for command output.
enum KValueLike {
    case s(String), i(Int), d(Double), list([KValueLike]), object([String: KValueLike])
    var text: String {
        switch self {
        case .s(let s): s
        case .i(let i): "\(i)"
        case .d(let d): String(format: "%.2f", d)
        default: ""
        }
    }
    var number: Double {
        switch self {
        case .d(let d): d
        case .i(let i): Double(i)
        default: 0
        }
    }
    var any: Any {
        switch self {
        case .s(let s): s
        case .i(let i): i
        case .d(let d): (d * 100).rounded() / 100
        case .list(let l): l.map(\.any)
        case .object(let o): o.mapValues(\.any)
        }
    }
    static func json(_ o: [String: KValueLike]) -> String {
        let data = try! JSONSerialization.data(withJSONObject: KValueLike.object(o).any, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}

/// A progress bar on standard error, only on a terminal.
final class Progress {
    let total: Int
    var current = 0
    let enabled = isatty(STDERR_FILENO) == 1
    init(total: Int) { self.total = max(1, total) }
    func step(_ label: String) { set(current + 1, label) }
    func set(_ value: Int, _ label: String) {
        current = value
        guard enabled else { return }
        let width = 30, filled = min(width, current * width / total)
        FileHandle.standardError.write(Data("\r[\(String(repeating: "#", count: filled))\(String(repeating: " ", count: width - filled))] \(min(100, current * 100 / total))% \(label)    ".utf8))
    }
    func done() { if enabled { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) } }
}
