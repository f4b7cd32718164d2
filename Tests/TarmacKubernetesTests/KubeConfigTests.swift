import Foundation
import Testing
import TarmacKubernetes
import TarmacTesting

@Suite struct KubeConfigTests {
    static let config = """
        apiVersion: v1
        kind: Config
        current-context: dev
        clusters:
        - name: dev-cluster
          cluster: {server: "https://10.0.0.1:6443", certificate-authority: ca.crt}
        - name: prod-cluster
          cluster: {server: "https://prod.example:6443", certificate-authority-data: \(Data("PROD CA".utf8).base64EncodedString())}
        users:
        - name: dev-user
          user: {tokenFile: token.txt}
        - name: prod-user
          user: {client-certificate-data: \(Data("CERT".utf8).base64EncodedString()), client-key-data: \(Data("KEY".utf8).base64EncodedString())}
        - name: cloud-user
          user: {exec: {command: gke-gcloud-auth-plugin}}
        contexts:
        - name: dev
          context: {cluster: dev-cluster, user: dev-user, namespace: team-a}
        - name: production
          context: {cluster: prod-cluster, user: prod-user}
        - name: cloud
          context: {cluster: prod-cluster, user: cloud-user}

        """

    func write() throws -> (TemporaryDirectory, String) {
        let dir = try TemporaryDirectory()
        try dir.write("ca.crt", "DEV CA")
        try dir.write("token.txt", "dev-token\n")
        return (dir, try dir.write("kubeconfig", Self.config))
    }

    @Test func currentAndNamedContexts() throws {
        let (dir, path) = try write()
        let dev = try KubeConfig.load(path: path)
        #expect(dev.server == "https://10.0.0.1:6443" && dev.token == "dev-token" && dev.namespace == "team-a")
        #expect(dev.caPEM == Data("DEV CA".utf8), "a relative CA file is read next to the kubeconfig")
        #expect(!dev.description.contains("dev-token"))
        let prod = try KubeConfig.load(path: path, context: "production")
        #expect(prod.caPEM == Data("PROD CA".utf8) && prod.clientCertificatePEM == Data("CERT".utf8) && prod.clientKeyPEM == Data("KEY".utf8))
        #expect(prod.token == nil)
        _ = dir
    }

    @Test func clearErrors() throws {
        let (dir, path) = try write()
        #expect(throws: KubeConfigError.self) { try KubeConfig.load(path: path, context: "prod") }
        do { _ = try KubeConfig.load(path: path, context: "prodution") } catch let e as KubeConfigError {
            #expect(e.description.contains("did you mean 'production'?"), "\(e)")
        }
        do { _ = try KubeConfig.load(path: path, context: "cloud") } catch let e as KubeConfigError {
            #expect(e.description.contains("exec plugin"), "\(e)")
        }
        do { _ = try KubeConfig.load(path: dir.path + "/missing") } catch let e as KubeConfigError {
            #expect(e.description.contains("cannot read kubeconfig"))
        }
    }

    @Test func inClusterConfiguration() throws {
        let dir = try TemporaryDirectory()
        try dir.write("token", "sa-token\n")
        try dir.write("ca.crt", "SA CA")
        try dir.write("namespace", "tarmac-system")
        let a = try KubeConfig.inCluster(root: dir.path, environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"])
        #expect(a.server == "https://10.96.0.1:443" && a.token == "sa-token" && a.caPEM == Data("SA CA".utf8) && a.namespace == "tarmac-system")
        #expect(throws: KubeConfigError.self) { try KubeConfig.inCluster(root: dir.path, environment: [:]) }
    }
}
