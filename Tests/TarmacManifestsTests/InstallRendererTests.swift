import Foundation
import Testing
import TarmacContract
import TarmacManifests
import TarmacTesting

/// `tarmac install`'s objects: strictly valid against the upstream schemas, Pod Security `restricted` as the
/// admission plugin reads it, one replica per node, only the leader ready, the contract's files where it reads them.
@Suite struct InstallRendererTests {
    static func objects(_ options: InstallOptions = InstallOptions(image: "registry.example.com/tarmac:0.1.0")) throws -> [KubeObject] {
        let path = Fixtures.path("examples/platform/platform.yaml")
        let loaded = ContractLoader.load(path)
        let contract = try #require(loaded.contract)
        let root = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let files = try contract.files.map { f -> (path: String, text: String) in
            let full = URL(fileURLWithPath: f).standardizedFileURL.path
            return (String(full.dropFirst(root.count + 1)), try String(contentsOfFile: full, encoding: .utf8))
        }
        return InstallRenderer.render(contract, platformFiles: files, platformFile: "platform.yaml", options: options)
    }

    @Test func everyObjectPassesStrictValidation() throws {
        var options = InstallOptions(image: "registry.example.com/tarmac:0.1.0")
        options.gatewayPort = 8081
        options.inferencePort = 8082
        let objects = try Self.objects(options)
        #expect(Set(objects.map(\.kind)) == ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ConfigMap",
                                             "Deployment", "PodDisruptionBudget", "Service"])
        let schema = UpstreamSchemaTests()
        let result = try schema.validate(objects)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let verbose = try schema.validateVerbose(objects)
        #expect(verbose.components(separatedBy: "INFO").count - 1 == objects.count, "each object validated: \(verbose)")
    }

    /// A PostgreSQL for small installs: strictly valid, Pod Security `restricted` (its own uid, a read-only root, a
    /// volume per pod), reachable by Tarmac's pods only, its password from the store's Secret, Tarmac pointed at it.
    @Test func theBundledPostgresIsValidRestrictedAndOnlyTarmacReachesIt() throws {
        var options = InstallOptions(image: "registry.example.com/tarmac:0.1.0")
        var pg = BundledPostgres()
        pg.storage = "20Gi"
        pg.storageClass = "fast"
        options.bundledPostgres = pg
        let objects = try Self.objects(options)
        #expect(objects.filter { $0.kind == "StatefulSet" || $0.kind == "NetworkPolicy" }.count == 2)
        let result = try UpstreamSchemaTests().validate(objects)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let sts = try #require(objects.first { $0.kind == "StatefulSet" }).value
        #expect(sts["spec"]?["replicas"] == 1 && sts["spec"]?["serviceName"] == "tarmac-postgres")
        let pod = try #require(sts["spec"]?["template"]?["spec"])
        #expect(pod["securityContext"]?["runAsNonRoot"] == true && pod["securityContext"]?["runAsUser"] == 999 && pod["securityContext"]?["fsGroup"] == 999)
        #expect(pod["securityContext"]?["seccompProfile"]?["type"] == "RuntimeDefault")
        let c = try #require(pod["containers"]?.list?.first)
        #expect(c["securityContext"]?["allowPrivilegeEscalation"] == false && c["securityContext"]?["capabilities"]?["drop"] == ["ALL"])
        #expect(c["securityContext"]?["readOnlyRootFilesystem"] == true)
        let mounts = Set((c["volumeMounts"]?.list ?? []).compactMap { $0["mountPath"]?.string })
        #expect(mounts == ["/var/lib/postgresql/data", "/var/run/postgresql", "/tmp"])
        let env = c["env"]?.list ?? []
        #expect(env.contains { $0["name"] == "POSTGRES_PASSWORD" && $0["valueFrom"]?["secretKeyRef"]?["name"] == "tarmac-store" && $0["valueFrom"]?["secretKeyRef"]?["key"] == "password" })
        let claim = try #require(sts["spec"]?["volumeClaimTemplates"]?.list?.first)
        #expect(claim["spec"]?["resources"]?["requests"]?["storage"] == "20Gi" && claim["spec"]?["storageClassName"] == "fast")
        // Only Tarmac's pods reach it.
        let policy = try #require(objects.first { $0.kind == "NetworkPolicy" }).value
        #expect(policy["spec"]?["podSelector"]?["matchLabels"]?["app.kubernetes.io/name"] == "tarmac-postgres")
        #expect(policy["spec"]?["ingress"]?.list?.first?["from"]?.list?.first?["podSelector"]?["matchLabels"]?["app.kubernetes.io/name"] == "tarmac")
        // Tarmac's pods: the bundled store's address, the password from the Secret (required).
        let d = try #require(objects.first { $0.kind == "Deployment" }).value
        let tarmacEnv = d["spec"]?["template"]?["spec"]?["containers"]?.list?.first?["env"]?.list ?? []
        #expect(tarmacEnv.contains { $0["name"] == "TARMAC_STORE" && $0["value"] == .string(BundledPostgres.url) })
        #expect(tarmacEnv.contains { $0["name"] == "PGPASSWORD" && $0["valueFrom"]?["secretKeyRef"]?["optional"] == false })
        #expect(!objects.contains { $0.kind == "Secret" })
    }

    @Test func thePodsAreRestrictedSpreadAndOnlyTheLeaderIsReady() throws {
        let objects = try Self.objects()
        let ns = try #require(objects.first { $0.kind == "Namespace" })
        #expect(ns.labels["pod-security.kubernetes.io/enforce"] == "restricted")
        let d = try #require(objects.first { $0.kind == "Deployment" }).value
        #expect(d["spec"]?["replicas"] == 2)
        #expect(d["spec"]?["strategy"]?["rollingUpdate"]?["maxUnavailable"] == 0)
        let pod = try #require(d["spec"]?["template"]?["spec"])
        // Pod Security `restricted`: non-root, RuntimeDefault seccomp, no privilege escalation, every capability dropped.
        #expect(pod["securityContext"]?["runAsNonRoot"] == true && pod["securityContext"]?["seccompProfile"]?["type"] == "RuntimeDefault")
        let c = try #require(pod["containers"]?.list?.first)
        #expect(c["securityContext"]?["allowPrivilegeEscalation"] == false && c["securityContext"]?["capabilities"]?["drop"] == ["ALL"])
        #expect(c["securityContext"]?["readOnlyRootFilesystem"] == true)
        for v in pod["volumes"]?.list ?? [] { #expect(v["hostPath"] == nil, "\(v)") }
        // One replica per node; the PodDisruptionBudget keeps one.
        let anti = pod["affinity"]?["podAntiAffinity"]?["requiredDuringSchedulingIgnoredDuringExecution"]?.list?.first
        #expect(anti?["topologyKey"] == "kubernetes.io/hostname")
        let selector = d["spec"]?["selector"]?["matchLabels"]
        #expect(anti?["labelSelector"]?["matchLabels"] == selector)
        let pdb = try #require(objects.first { $0.kind == "PodDisruptionBudget" }).value
        #expect(pdb["spec"]?["minAvailable"] == 1 && pdb["spec"]?["selector"]?["matchLabels"] == selector)
        let service = try #require(objects.first { $0.kind == "Service" }).value
        #expect(service["spec"]?["selector"] == selector)
        // Ready when leading or following a leader that is (followers forward to it); alive whenever it serves /healthz.
        #expect(c["readinessProbe"]?["httpGet"]?["path"] == "/readyz" && c["livenessProbe"]?["httpGet"]?["path"] == "/healthz")
        let args = (c["args"]?.list ?? []).compactMap(\.string)
        for flag in ["--leader-elect", "--in-cluster", "--credential-key", "--backend"] { #expect(args.contains(flag), "\(args)") }
        #expect(args.contains("tarmac-system/tarmac-leader"))
        // Secrets are referenced, never rendered.
        #expect(!objects.contains { $0.kind == "Secret" })
        let env = c["env"]?.list ?? []
        #expect(env.contains { $0["name"] == "TARMAC_STORE" && $0["valueFrom"]?["secretKeyRef"]?["name"] == "tarmac-store" })
        #expect(env.contains { $0["name"] == "POD_NAME" && $0["valueFrom"]?["fieldRef"]?["fieldPath"] == "metadata.name" })
        // Followers forward to the leader's pod IP, which it writes in the Lease: POD_IP, expanded in the args by the kubelet.
        #expect(env.contains { $0["name"] == "POD_IP" && $0["valueFrom"]?["fieldRef"]?["fieldPath"] == "status.podIP" })
        let peer = try #require(args.firstIndex(of: "--peer-host"))
        #expect(args.count > peer + 1 && args[peer + 1] == "$(POD_IP)", "\(args)")
    }

    @Test func theContractsFilesAreMountedWhereItReadsThem() throws {
        let objects = try Self.objects()
        let cm = try #require(objects.first { $0.kind == "ConfigMap" }).value
        let d = try #require(objects.first { $0.kind == "Deployment" }).value
        let volume = try #require(d["spec"]?["template"]?["spec"]?["volumes"]?.list?.first { $0["name"] == "platform" })
        let paths = (volume["configMap"]?["items"]?.list ?? []).compactMap { $0["path"]?.string }
        // The layered example: the platform, what it extends, its environment overlays.
        #expect(Set(paths) == ["platform.yaml", "base.yaml", "environments/dev.yaml", "environments/prod.yaml"], "\(paths)")
        for item in volume["configMap"]?["items"]?.list ?? [] {
            let key = try #require(item["key"]?.string)
            #expect(cm["data"]?[key]?.string?.isEmpty == false, "\(key)")
            #expect(!key.contains("/"))
        }
    }

    @Test func theLeaseIsTheOnlyOneItMayUpdate() throws {
        let role = try #require(try Self.objects().first { $0.kind == "Role" && $0.name == "tarmac-leader-election" })
        #expect(role.body["rules"] == [
            ["apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]],
            ["apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": ["tarmac-leader"], "verbs": ["get", "update"]],
        ])
    }
}
