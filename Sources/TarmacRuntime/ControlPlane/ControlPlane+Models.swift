import TarmacCore
import TarmacModel

/// What the model registry asks of the control plane: which model versions serve now.
extension ControlPlane {
    /// The models the running InferenceServices of a team and environment serve (as their documents name them).
    public func servingModels(team: String, env: String) -> [ModelReference] {
        tracked.live.compactMap { id -> ModelReference? in
            guard let t = tracked[id], t.entry.team == team, t.entry.env == env, t.entry.state == .running,
                  case .inference(let d)? = t.plan?.workload.details else { return nil }
            return d.model
        }
    }
}
