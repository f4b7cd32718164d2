import Foundation
import TarmacKubernetes
import TarmacManifests

extension KubernetesBackend {
    /// The tool gateway's upstream credentials: the keys of Secret `tarmac-gateway` in the system namespace (empty when
    /// there is no such Secret). The control plane may read that one Secret only (`tarmac apply-platform` renders the
    /// Role).
    public func gatewayCredentials() async throws -> [String: String] {
        let secret: [String: Any]
        do {
            secret = try await client.get("/api/v1/namespaces/\(Naming.systemNamespace)/secrets/\(Naming.gatewaySecret)")
        } catch let e as KubeError where e.isNotFound {
            return [:]
        }
        var out: [String: String] = [:]
        for (key, value) in secret["data"] as? [String: String] ?? [:] {
            guard let bytes = Data(base64Encoded: value), let text = String(data: bytes, encoding: .utf8) else { continue }
            out[key] = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return out
    }
}
