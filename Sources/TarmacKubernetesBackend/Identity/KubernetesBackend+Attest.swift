import TarmacCore
import TarmacManifests

/// Pod attestation on Kubernetes: a pod presents its projected service-account token (audience `tarmac`); the cluster
/// says whether it is genuine and which pod it is bound to (TokenReview); the pod must be one of a workload's, of the
/// attempt its labels name, in the workload's namespace, running as the workload's service account.
extension KubernetesBackend {
    public func attest(serviceAccountToken token: String) async -> PodAttestation? {
        let review: [String: Any]
        do {
            review = try await client.create("/apis/authentication.k8s.io/v1/tokenreviews", [
                "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                "spec": ["token": token, "audiences": [PodTemplate.identityAudience]],
            ])
        } catch {
            logger.warning("TokenReview failed", metadata: ["error": "\(error)"])
            return nil
        }
        guard let status = review["status"] as? [String: Any], status["authenticated"] as? Bool == true,
              (status["audiences"] as? [String])?.contains(PodTemplate.identityAudience) == true,
              let user = status["user"] as? [String: Any], let username = user["username"] as? String,
              let extra = user["extra"] as? [String: Any],
              let podName = (extra["authentication.kubernetes.io/pod-name"] as? [String])?.first,
              let podUID = (extra["authentication.kubernetes.io/pod-uid"] as? [String])?.first else { return nil }
        guard let (namespace, account) = Naming.serviceAccount(ofUser: username) else { return nil }
        guard let pod = try? await client.get("/api/v1/namespaces/\(namespace)/pods/\(podName)"),
              let meta = pod["metadata"] as? [String: Any], meta["uid"] as? String == podUID,
              let labels = meta["labels"] as? [String: String], let id = labels[Naming.workloadIDLabel],
              let attempt = labels[Naming.attemptLabel].flatMap(Int.init),
              (pod["spec"] as? [String: Any])?["serviceAccountName"] as? String == account,
              let objects = workloads[id]?.objects, objects.namespace == namespace, account == objects.workload.metadata.name else { return nil }
        return PodAttestation(workload: id, attempt: attempt, pod: podName)
    }
}
