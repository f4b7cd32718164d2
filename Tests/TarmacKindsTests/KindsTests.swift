import PropertyBased
import TarmacContract
import TarmacKinds
import TarmacManifests
import TarmacModel
import TarmacPlanning
import TarmacTesting
import Testing

@Suite struct KindsTests {
    static let contract: Contract = ContractLoader.load(Fixtures.examplePlatform).contract!
    static let examples: [String] = Fixtures.files(in: Fixtures.exampleWorkloads)

    /// Every pod's common environment (`PodEnvironment.common`) reaches its Kubernetes container, in order, with the
    /// identity token file after it and the kind's own variables after that: one writer for both backends.
    @Test(arguments: examples)
    func theCommonEnvironmentIsWhatEveryContainerGets(_ file: String) throws {
        let w = try #require(DocumentReader.read(file: file).workloads.first)
        let plan = try #require(Kinds.plan(w, contract: Self.contract))
        let objects = WorkloadRenderer.render(plan, contract: Self.contract)
        let controller = try #require(objects.first { $0.kind == "Job" || $0.kind == "Deployment" })
        let container = try #require(controller.body["spec"]?["template"]?["spec"]?["containers"]?.list?.first)
        let env = (container["env"]?.list ?? []).compactMap { e in e["value"]?.string.map { (e["name"]?.string ?? "", $0) } }
        let common = PodEnvironment.kubernetes(w, size: plan.size)
        #expect(Array(env.prefix(common.count)).map { "\($0.0)=\($0.1)" } == common.map { "\($0.name)=\($0.value)" })
        #expect(common.contains { $0.name == "TARMAC_SIZE" && $0.value == plan.size.reference })
    }

    /// The document as written renders exactly as its plan does: the size is resolved once, by the plan.
    @Test(arguments: examples)
    func aDocumentRendersAsItsPlan(_ file: String) throws {
        let w = try #require(DocumentReader.read(file: file).workloads.first)
        let plan = try #require(Kinds.plan(w, contract: Self.contract))
        #expect(try WorkloadRenderer.render(w, contract: Self.contract).get() == WorkloadRenderer.render(plan, contract: Self.contract))
    }

    /// Attempts: a batch job's maxRetries + 1, three for the rest; only training has a minimum runtime before it may be
    /// preempted; services and agents are long-running.
    @Test(arguments: examples)
    func eachKindDecidesItsAttemptsRuntimeAndWhetherItIsAService(_ file: String) throws {
        let w = try #require(DocumentReader.read(file: file).workloads.first)
        let plan = try #require(Kinds.plan(w, contract: Self.contract))
        if case .batch(let b) = w.details { #expect(plan.maxAttempts == b.maxRetries + 1) } else { #expect(plan.maxAttempts == 3) }
        #expect((plan.minRuntime > 0) == (w.kind == .trainingJob))
        #expect(plan.isService == (w.kind == .inferenceService || w.kind == .agent))
    }

    /// A size the contract does not have fails the render with the size named, instead of rendering anything.
    @Test func anUnknownSizeIsRefused() throws {
        var w = try #require(DocumentReader.read(file: Fixtures.exampleWorkloads + "/train-cpu.yaml").workloads.first)
        w.size = "cpu-huge"
        #expect(WorkloadRenderer.render(w, contract: Self.contract) == .failure(.invalid("unknown training size 'cpu-huge'")))
    }

    /// Batch: local pods share the tasks out, each exactly once, in order on each pod.
    @Test func batchPodsRunEveryTaskOnce() async {
        await propertyCheck(input: Gen.int(in: 1...40), Gen.int(in: 1...12)) { tasks, parallelism in
            let kind = BatchKind(details: BatchDetails(tasks: tasks, parallelism: parallelism, maxRetries: 0))
            let pods = max(1, min(parallelism, tasks))
            let roles = (0..<pods).map { kind.localPod($0, of: pods, port: 20000) }
            #expect(roles.flatMap(\.completionIndices).sorted() == Array(0..<tasks))
            #expect(roles.allSatisfy { $0.completionIndices == $0.completionIndices.sorted() })
        }
    }

    /// Training: ranks 0..n-1 around one rendezvous; inference: one port per replica.
    @Test func trainingRanksAndServicePortsAreDistinct() {
        let training = TrainingKind(details: TrainingDetails(workers: 4, checkpoint: nil))
        let ranks = (0..<4).map { training.localPod($0, of: 4, port: 23456).environment }
        #expect(ranks.map { $0["RANK"] } == ["0", "1", "2", "3"] && Set(ranks.map { $0["MASTER_PORT"] }) == ["23456"])
        #expect(ranks.allSatisfy { $0["WORLD_SIZE"] == "4" })
        let doc = DocumentReader.read(file: Fixtures.exampleWorkloads + "/ranker-serve.yaml").workloads.first
        guard case .inference(let i)? = doc?.details else { Issue.record("ranker-serve is not a service"); return }
        let ports = (0..<3).map { InferenceKind(details: i).localPod($0, of: 3, port: 0).environment["PORT"] }
        #expect(Set(ports).count == 3 && ports.first == String(i.port))
    }
}
