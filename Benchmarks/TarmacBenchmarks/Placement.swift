import Foundation
import TarmacEngine
import TarmacSimulator

/// Placement quality on the Alibaba trace (the FGD paper's protocol): every pod list x every policy x seeds,
/// mean GPU allocation % at 100% and 130% arrival, side by side; plus wall time and peak memory.
func placementBenchmark(_ args: [String]) {
    let trace = option("--trace", args) ?? "../shared/traces/alibaba-gpu-v2023"
    let seeds = Int(option("--seeds", args) ?? "") ?? 10
    let lists = option("--lists", args).map { $0.split(separator: ",").map(String.init) } ?? AlibabaTrace.podLists(in: trace)
    let policies = option("--policies", args).map { $0.split(separator: ",").compactMap { PolicyName.named(String($0)) } } ?? PolicyName.allCases
    let dir = AlibabaTrace.csvDirectory(trace)
    guard FileManager.default.fileExists(atPath: dir + "/openb_node_list_gpu_node.csv") else {
        print("no trace at \(trace) (expected csv/openb_node_list_gpu_node.csv); pass --trace DIR")
        exit(1)
    }
    let nodes: [AlibabaTrace.Node]
    do { nodes = try AlibabaTrace.loadNodes(dir + "/openb_node_list_gpu_node.csv") } catch { print(error); exit(1) }
    print("GPU allocation % (mean of \(seeds) seeds) at 100% / 130% of capacity requested; \(nodes.count) GPU nodes")
    print("pod list".padding(toLength: 14, withPad: " ", startingAt: 0) + policies.map { $0.rawValue.padding(toLength: 15, withPad: " ", startingAt: 0) }.joined())
    let start = now()
    var runTimes: [Double] = []
    for list in lists {
        let pods: [AlibabaTrace.Pod]
        do { pods = try AlibabaTrace.loadPods(dir + "/openb_pod_list_\(list).csv") } catch { print(error); exit(1) }
        let experiment = AllocationExperiment(nodes: nodes, pods: pods)
        var cells: [String] = []
        for policy in policies {
            // Seeds run in parallel, one per core; each run is single-threaded and independent.
            let results = Results(count: seeds)
            DispatchQueue.concurrentPerform(iterations: seeds) { seed in
                let t = now()
                let r = experiment.run(policy, seed: UInt64(42 + seed))
                results.set(seed, r.allocation(at: 100), r.final, now() - t)
            }
            runTimes += results.times
            cells.append(String(format: "%5.2f / %5.2f  ", results.at100.reduce(0, +) / Double(seeds), results.at130.reduce(0, +) / Double(seeds)))
        }
        print(list.padding(toLength: 14, withPad: " ", startingAt: 0) + cells.joined())
    }
    let total = now() - start
    runTimes.sort()
    print(String(format: "\n%d runs in %.1f s; one run: median %.3f s, max %.3f s; peak memory %.1f MiB",
                 runTimes.count, total, runTimes[runTimes.count / 2], runTimes.last ?? 0, peakRSSMiB()))
}

/// Per-seed results written from parallel runs.
final class Results: @unchecked Sendable {
    private let lock = NSLock()
    var at100: [Double], at130: [Double], times: [Double]
    init(count: Int) {
        at100 = Array(repeating: 0, count: count)
        at130 = Array(repeating: 0, count: count)
        times = Array(repeating: 0, count: count)
    }
    func set(_ i: Int, _ a: Double, _ b: Double, _ t: Double) {
        lock.lock()
        at100[i] = a; at130[i] = b; times[i] = t
        lock.unlock()
    }
}

/// The engine over several clusters against one cluster of the same nodes: the placement benchmark's allocation with
/// the trace's nodes dealt over K clusters, side by side with the same nodes as one cluster, per policy.
func fleetPlacementBenchmark(_ args: [String]) {
    let trace = option("--trace", args) ?? "../shared/traces/alibaba-gpu-v2023"
    let seeds = Int(option("--seeds", args) ?? "") ?? 10
    let clusters = Int(option("--clusters", args) ?? "") ?? 3
    let lists = option("--lists", args).map { $0.split(separator: ",").map(String.init) } ?? AlibabaTrace.podLists(in: trace)
    let policies = option("--policies", args).map { $0.split(separator: ",").compactMap { PolicyName.named(String($0)) } } ?? [.fgd, .tarmac]
    let dir = AlibabaTrace.csvDirectory(trace)
    guard FileManager.default.fileExists(atPath: dir + "/openb_node_list_gpu_node.csv") else {
        print("no trace at \(trace) (expected csv/openb_node_list_gpu_node.csv); pass --trace DIR")
        exit(1)
    }
    let nodes: [AlibabaTrace.Node]
    do { nodes = try AlibabaTrace.loadNodes(dir + "/openb_node_list_gpu_node.csv") } catch { print(error); exit(1) }
    print("GPU allocation % at 100% of capacity requested (mean of \(seeds) seeds): \(nodes.count) GPU nodes as 1 cluster | dealt over \(clusters) clusters | difference in points")
    print("pod list".padding(toLength: 14, withPad: " ", startingAt: 0) + policies.map { ($0.rawValue + ": 1 | \(clusters) | diff").padding(toLength: 30, withPad: " ", startingAt: 0) }.joined())
    var worst = 0.0
    for list in lists {
        let pods: [AlibabaTrace.Pod]
        do { pods = try AlibabaTrace.loadPods(dir + "/openb_pod_list_\(list).csv") } catch { print(error); exit(1) }
        let one = AllocationExperiment(nodes: nodes, pods: pods)
        let several = one.split(into: clusters)
        var cells: [String] = []
        for policy in policies {
            let a = Results(count: seeds), b = Results(count: seeds)
            DispatchQueue.concurrentPerform(iterations: seeds) { seed in
                let r1 = one.run(policy, seed: UInt64(42 + seed))
                a.set(seed, r1.allocation(at: 100), r1.final, 0)
                let r2 = several.run(policy, seed: UInt64(42 + seed))
                b.set(seed, r2.allocation(at: 100), r2.final, 0)
            }
            let m1 = a.at100.reduce(0, +) / Double(seeds), m2 = b.at100.reduce(0, +) / Double(seeds)
            worst = max(worst, abs(m2 - m1))
            cells.append(String(format: "%5.2f | %5.2f | %+5.2f", m1, m2, m2 - m1).padding(toLength: 30, withPad: " ", startingAt: 0))
        }
        print(list.padding(toLength: 14, withPad: " ", startingAt: 0) + cells.joined())
    }
    print(String(format: "\nlargest difference: %.2f points (target: within 0.5)", worst))
}
