// Benchmarks print figures; they are never asserted in tests.
//
//   swift run -c release TarmacBenchmarks render [--count N] [--platform FILE]
//
// render: generates N workloads of every kind, team, environment and size of the example contract,
// then measures, stage by stage, what `tarmac validate` and `tarmac render` do with them:
// decode (YAML -> checked document), validate (against the contract and guardrails), render (Kubernetes
// objects) and serialize (deterministic YAML). Reports workloads/s per stage and end to end, and peak memory.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import TarmacContract
import TarmacKinds
import TarmacManifests
import TarmacModel
import TarmacTesting

func peakRSSMiB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024  // Linux reports KiB
}

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

func option(_ name: String, _ args: [String]) -> String? {
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    return args[i + 1]
}

/// N workload documents cycling through kinds, teams, environments and valid sizes.
func generate(_ n: Int, contract: Contract) -> [String] {
    let p = contract.platform
    let teams = p.teams.keys.sorted()
    var docs: [String] = []
    docs.reserveCapacity(n)
    for i in 0..<n {
        let team = teams[i % teams.count]
        let env = i % 5 == 0 ? "prod" : "dev"
        let owner = p.teams[team]?.members.first ?? "someone@acme.example"
        let image = "registry.acme.example/app@sha256:" + String(repeating: "a", count: 64)
        switch i % 4 {
        case 0:
            let sizes = ["cpu-small", "small", "medium", "large"]
            docs.append("""
            apiVersion: tarmac.dev/v1alpha1
            kind: TrainingJob
            metadata: {name: train-\(i), team: \(team), env: \(env), owner: \(owner)}
            spec:
              size: \(sizes[i / 4 % sizes.count])
              workers: \(1 + i % 3)
              image: \(image)
              command: [torchrun, train.py]
              env: {LR: "0.001", EPOCHS: "3"}
              datasets: [{name: clicks, mountPath: /data}]
              checkpoint: {path: /ckpt, interval: 30m}
              maxDuration: 12h
              egress: [object-store]
            """)
        case 1:
            docs.append("""
            apiVersion: tarmac.dev/v1alpha1
            kind: BatchJob
            metadata: {name: batch-\(i), team: \(team), env: \(env), owner: \(owner)}
            spec:
              size: \(i % 8 == 1 ? "gpu" : "cpu-large")
              tasks: 100
              parallelism: 10
              image: \(image)
              command: [python, task.py]
              maxDuration: 2h
            """)
        case 2:
            docs.append("""
            apiVersion: tarmac.dev/v1alpha1
            kind: InferenceService
            metadata: {name: serve-\(i), team: \(team), env: \(env), owner: \(owner)}
            spec:
              size: \(["s", "m", "cpu-small"][i / 4 % 3])
              model: model-\(i % 17)@\(1 + i % 9)
              rollbackTarget: model-\(i % 17)@0
              image: \(image)
              replicas: 1..4
              port: 8080
              egress: [metrics]
            """)
        default:
            docs.append("""
            apiVersion: tarmac.dev/v1alpha1
            kind: Agent
            metadata: {name: agent-\(i), team: \(team), env: \(env), owner: \(owner)}
            spec:
              size: standard
              image: \(image)
              tools: {tickets: [read, comment], search-index: [read]}
              onBehalfOf: \(owner)
            """)
        }
    }
    return docs
}

func renderBenchmark(_ args: [String]) {
    let count = Int(option("--count", args) ?? "") ?? 10_000
    let platformPath = option("--platform", args) ?? Fixtures.examplePlatform
    let t0 = now()
    let loaded = ContractLoader.load(platformPath)
    guard let contract = loaded.contract else {
        for d in loaded.diagnostics { print(d) }
        exit(1)
    }
    let tContract = now() - t0
    let docs = generate(count, contract: contract)

    var workloads: [Workload] = []
    workloads.reserveCapacity(count)
    var errors = 0, warnings = 0
    let t1 = now()
    var trees: [(YAMLLoader.Result, String)] = []
    trees.reserveCapacity(count)
    for (i, text) in docs.enumerated() { trees.append((YAMLLoader.load(text, file: "w\(i).yaml"), "w\(i).yaml")) }
    let tParse = now() - t1
    let t1b = now()
    for (loaded, file) in trees {
        let read = DocumentReader.read(documents: loaded.documents, file: file)
        errors += loaded.diagnostics.errors.count + read.diagnostics.errors.count
        workloads += read.workloads
    }
    let tCheck = now() - t1b
    let tDecode = tParse + tCheck
    let t2 = now()
    for w in workloads {
        let ds = Kinds.validate(w, against: contract)
        errors += ds.errors.count
        warnings += ds.warnings.count
    }
    let tValidate = now() - t2
    var objects: [KubeObject] = []
    let t3 = now()
    for w in workloads {
        if case .success(let o) = WorkloadRenderer.render(w, contract: contract) { objects += o }
    }
    let tRender = now() - t3
    let t4 = now()
    var bytes = 0
    for o in objects { bytes += o.yaml.utf8.count }
    let tSerialize = now() - t4
    let total = tDecode + tValidate + tRender + tSerialize

    // The whole pipeline per document, on every core, as `tarmac render` runs it (files in parallel, objects serialized in parallel).
    let t5 = now()
    let perDoc = docs.enumerated().map { ($0.offset, $0.element) }.parallelMap { (i, text) -> (Int, Int) in
        let loaded = YAMLLoader.load(text, file: "w\(i).yaml")
        let read = DocumentReader.read(documents: loaded.documents, file: "w\(i).yaml")
        var errs = loaded.diagnostics.errors.count + read.diagnostics.errors.count
        var bytes = 0
        for w in read.workloads {
            errs += Kinds.validate(w, against: contract).errors.count
            if case .success(let objects) = WorkloadRenderer.render(w, contract: contract) { for o in objects { bytes += o.yaml.utf8.count } }
        }
        return (errs, bytes)
    }
    let tParallel = now() - t5
    errors += perDoc.reduce(0) { $0 + $1.0 }
    func rate(_ t: Double) -> String { String(format: "%10.0f", Double(count) / t) }
    func ms(_ t: Double) -> String { String(format: "%9.1f", t * 1000) }
    print("validate + render \(count) workloads against \(platformPath)")
    print("contract load: \(ms(tContract)) ms; \(errors) errors, \(warnings) warnings in the generated workloads; \(objects.count) objects, \(bytes / 1024) KiB of YAML")
    print("")
    print("stage                        time (ms)   workloads/s")
    print("parse (YAML -> tree)        \(ms(tParse))    \(rate(tParse))")
    print("check (schema, decode)      \(ms(tCheck))    \(rate(tCheck))")
    print("validate (contract, rules)  \(ms(tValidate))    \(rate(tValidate))")
    print("render (objects)            \(ms(tRender))    \(rate(tRender))")
    print("serialize (YAML)            \(ms(tSerialize))    \(rate(tSerialize))")
    print("end to end, one core        \(ms(total))    \(rate(total))")
    print("end to end, \(ProcessInfo.processInfo.activeProcessorCount) cores        \(ms(tParallel))    \(rate(tParallel))   (documents in parallel, as tarmac render runs files)")
    print("")
    print(String(format: "peak memory (max RSS): %.1f MiB", peakRSSMiB()))
    if errors > 0 { exit(1) }
}

/// Runs an async benchmark to its end. Detached: the top-level code holds the main actor while it waits.
func runAsync(_ body: @escaping @Sendable () async -> Void) {
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        await body()
        done.signal()
    }
    done.wait()
}

/// The `tarmac` binary a benchmark starts: `--tarmac PATH`, else the one built beside the benchmarks; exits when missing.
func tarmacBinary(_ args: [String]) -> String {
    let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tarmac").path
    let path = option("--tarmac", args) ?? beside
    guard FileManager.default.isExecutableFile(atPath: path) else {
        print("no tarmac binary at \(path); build it (swift build -c release --product tarmac) or pass --tarmac PATH")
        exit(1)
    }
    return path
}

let args = Array(CommandLine.arguments.dropFirst())
switch args.first {
case "render": renderBenchmark(Array(args.dropFirst()))
case "placement": placementBenchmark(Array(args.dropFirst()))
case "fleet-placement": fleetPlacementBenchmark(Array(args.dropFirst()))
case "throughput": throughputBenchmark(Array(args.dropFirst()))
case "kueue" where args.contains("--live"): runAsync { await kueueLiveBenchmark(Array(args.dropFirst())) }
case "kueue": kueueBenchmark(Array(args.dropFirst()))
case "api": runAsync { await apiBenchmark(Array(args.dropFirst())) }
case "sidebyside": runAsync { await sideBySideBenchmark(Array(args.dropFirst())) }
case "restart": runAsync { await restartBenchmark(Array(args.dropFirst())) }
case "reconcile": runAsync { await reconcileBenchmark(Array(args.dropFirst())) }
case "dispatch": runAsync { await dispatchBenchmark(Array(args.dropFirst())) }
case "gateway": runAsync { await gatewayBenchmark(Array(args.dropFirst())) }
case "inference-gateway": runAsync { await inferenceGatewayBenchmark(Array(args.dropFirst())) }
case "metering": runAsync { await meteringBenchmark(Array(args.dropFirst())) }
case "portal": runAsync { await portalBenchmark(Array(args.dropFirst())) }
case "store": runAsync { await storeBenchmark(Array(args.dropFirst())) }
case "failover": runAsync { await failoverBenchmark(Array(args.dropFirst())) }
default:
    print("""
    usage: TarmacBenchmarks render [--count N] [--platform FILE]
           TarmacBenchmarks placement [--trace DIR] [--seeds N] [--lists default,cpu050,...] [--policies FGD,Tarmac,...]
           TarmacBenchmarks dispatch --kubeconfigs A,B,C [--workloads 1000]
           TarmacBenchmarks fleet-placement [--clusters 3] [--trace DIR] [--seeds N] [--lists ...] [--policies FGD,Tarmac]
           TarmacBenchmarks throughput [--nodes N] [--workloads N] [--batch N] [--policies BestFit,Tarmac]
           TarmacBenchmarks kueue [--nodes N] [--preemption]
           TarmacBenchmarks gateway [--connections 1,16,64] [--duration 10s] [--paced MS] [--shared-nginx] [--tarmac PATH]
           TarmacBenchmarks inference-gateway [--connections 1,16,64] [--duration 10s] [--paced MS] [--tarmac PATH]
           TarmacBenchmarks metering [--pods 1000] [--nodes 125] [--transitions-per-second 20]
           TarmacBenchmarks kueue --live [--tarmac PATH] [--senders N] [--preemption] [--dump FILE]
           TarmacBenchmarks portal [--tarmac PATH] [--stored 10000] [--queued 200] [--requests 300]
           TarmacBenchmarks api [--tarmac PATH] [--clients 1,4,16,64] [--submits N] [--latency N]
           TarmacBenchmarks sidebyside --kubeconfig FILE [--tarmac PATH] [--connections 8,32] [--submits N]
           TarmacBenchmarks restart [--tarmac PATH] [--stored N] [--queued N]
           TarmacBenchmarks reconcile [--workloads N] [--nodes N] [--kubeconfig FILE [--context NAME]] [--platform FILE]
    """)
    exit(args.isEmpty ? 0 : 64)
}
