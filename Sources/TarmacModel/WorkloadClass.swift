/// The four classes of workload. Sizes and pools are declared per class.
public enum WorkloadClass: String, Sendable, Codable, CaseIterable, Comparable {
    case training, batch, inference, agent

    public static func < (a: WorkloadClass, b: WorkloadClass) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// The document kinds Tarmac reads.
public enum DocumentKind: String, Sendable, Codable, CaseIterable {
    case platform = "Platform"
    case platformOverlay = "PlatformOverlay"
    case trainingJob = "TrainingJob"
    case batchJob = "BatchJob"
    case inferenceService = "InferenceService"
    case agent = "Agent"

    public static let apiVersion = "tarmac.dev/v1alpha1"

    public var workloadClass: WorkloadClass? {
        switch self {
        case .trainingJob: .training
        case .batchJob: .batch
        case .inferenceService: .inference
        case .agent: .agent
        case .platform, .platformOverlay: nil
        }
    }

    public static let workloadKinds: [DocumentKind] = [.trainingJob, .batchJob, .inferenceService, .agent]
}
