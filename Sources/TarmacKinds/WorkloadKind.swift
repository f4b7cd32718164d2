import TarmacContract
import TarmacManifests
import TarmacModel
import TarmacPlanning

/// One kind of workload (TrainingJob, BatchJob, InferenceService, Agent): what it adds to what every workload gets.
/// Each kind lives in its folder; a new kind (a model deployment, a pipeline step) is a new folder with one of these and
/// a case in `Kinds.of`.
public protocol WorkloadKind: Sendable {
    /// What it decides of its plan: attempts, the runtime before it may be preempted, whether it is long-running.
    var rules: KindRules { get }
    /// What only this kind can get wrong, beyond the checks every workload gets (`WorkloadValidator`). `size` is nil
    /// when the workload's size is unknown (reported already).
    func validate(_ w: Workload, size: Size?, platform: Platform) -> [Diagnostic]
    /// Its Kubernetes objects beyond the ServiceAccount every workload has: the controller and what it needs.
    func render(_ r: inout KindRender)
    /// What the local backend's pod `i` of `pods` gets besides the common environment: its rank, port, tasks.
    func localPod(_ i: Int, of pods: Int, port: Int) -> LocalPodRole
}

/// A local pod's part in its workload.
public struct LocalPodRole: Sendable, Hashable {
    public var environment: [String: String]
    /// For batch tasks: the completion indices this pod runs, one after another.
    public var completionIndices: [Int]
    public init(environment: [String: String] = [:], completionIndices: [Int] = []) {
        self.environment = environment
        self.completionIndices = completionIndices
    }
}

/// The adapter of each workload.
public enum Kinds {
    /// A workload resolved against the contract, with its kind's rules: the one way a plan is made.
    public static func plan(_ w: Workload, contract: Contract) -> WorkloadPlan? { WorkloadPlan(workload: w, contract: contract, rules: of(w).rules) }

    /// A stored document, parsed and resolved (rows written before plans were stored, or by another plan version).
    public static func plan(source: String, contract: Contract) -> WorkloadPlan? {
        WorkloadPlan(source: source, contract: contract) { of($0).rules }
    }

    /// Every check of a workload: the common ones, then its kind's.
    public static func validate(_ w: Workload, against contract: Contract) -> [Diagnostic] {
        WorkloadValidator.validate(w, against: contract) { w, size, p in of(w).validate(w, size: size, platform: p) }
    }

    public static func of(_ w: Workload) -> any WorkloadKind {
        switch w.details {
        case .training(let t): TrainingKind(details: t)
        case .batch(let b): BatchKind(details: b)
        case .inference(let i): InferenceKind(details: i)
        case .agent(let a): AgentKind(details: a)
        }
    }
}
