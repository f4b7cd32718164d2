/// Why a request to an inference service failed, told apart as the model's doing or the infrastructure's: what a runbook
/// needs first (roll the model back, or look at the replicas and the gateway).
public enum ServingFault: String, Sendable, Hashable, Codable, CaseIterable {
    /// The model server answered with a 5xx.
    case modelError = "model_error"
    /// The model server took the request and gave no complete answer (it crashed, reset or timed out mid-request).
    case modelNoAnswer = "model_no_answer"
    /// No connection to the replica chosen (it is gone: a lost node, a killed pod), and no other to retry on.
    case unreachable
    /// No replica of the service is ready to take requests (none started, none passed its readiness).
    case noReplica = "no_replica"
    /// The gateway shed the request: the service had its queue limit of requests in flight.
    case overloaded

    public enum Side: String, Sendable, Hashable, Codable {
        case model, infrastructure
    }

    public var side: Side {
        switch self {
        case .modelError, .modelNoAnswer: .model
        case .unreachable, .noReplica, .overloaded: .infrastructure
        }
    }
}
