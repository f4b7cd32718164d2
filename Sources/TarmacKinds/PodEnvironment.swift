import TarmacManifests
import TarmacModel

/// The one writer of what a workload's pods find in their environment, on every backend: the document's own
/// variables, then Tarmac's. Each backend adds only what it alone knows (Kubernetes: where the identity token is
/// mounted; local processes: the attempt, the workload's identity and the control plane's URLs), and each kind its
/// role (`WorkloadKind`).
public enum PodEnvironment {
    /// Every pod of the workload, on any backend, in this order.
    public static func common(_ w: Workload, size: Size) -> [(name: String, value: String)] {
        w.env.map { ($0.name, $0.value) } + [
            ("TARMAC_WORKLOAD", w.metadata.name),
            ("TARMAC_TEAM", w.metadata.team),
            ("TARMAC_ENV", w.metadata.env),
            ("TARMAC_SIZE", size.reference),
        ]
    }

    /// A Kubernetes pod: the common variables, and how it proves who it is (its service-account token for audience
    /// `tarmac`, exchanged at the control plane for JWT-SVIDs; no Kubernetes API token is mounted).
    public static func kubernetes(_ w: Workload, size: Size) -> [(name: String, value: String)] {
        common(w, size: size) + [("TARMAC_IDENTITY_TOKEN_FILE", PodTemplate.identityMountPath + "/token")]
    }
}
