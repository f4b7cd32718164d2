import ArgumentParser
import Foundation
import Logging
import TarmacContract
import TarmacKubernetes
import TarmacKubernetesBackend
import TarmacManifests
import TarmacModel

struct InstallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Render (or apply) Tarmac itself in a cluster: replicas that share a PostgreSQL store, one leading by Lease.",
        discussion: """
        Renders the namespace tarmac-system (Pod Security `restricted`), the ServiceAccount `tarmac` and the RBAC its Kubernetes backend needs, the Role for its leader-election Lease, the platform contract as a ConfigMap, a Deployment of --replicas (one per node, restricted security context, readiness on /readyz: the leader, and followers that forward every request to it; liveness on /healthz), a PodDisruptionBudget and the Service. With --apply it applies them with server-side apply, as field manager `tarmac`.

        Two Secrets in tarmac-system are read, never rendered (they hold secrets); --apply says which are missing:
          tarmac-store            key url: postgres://USER@HOST:5432/DB?sslmode=require (key password: optional)
          tarmac-credential-key   key credential.key: 32 random bytes, shared by the replicas

        With --bundled-postgres, a PostgreSQL for small installs is rendered too: one StatefulSet pod of the official image on a PersistentVolumeClaim (--postgres-storage, --postgres-storage-class), Pod Security `restricted`, a headless Service tarmac-postgres, and a NetworkPolicy that lets only Tarmac's pods reach it. The store's Secret then needs only the key password (the database's; Tarmac's pods use it too). One pod, no replication and no backups: for more, give the DSN of a PostgreSQL run for it.
        The image is built from the repository's Containerfile.

        Exit status: 0 rendered or applied, 1 the platform has errors or an object was refused, 5 the cluster cannot be reached.

        Examples:
          tarmac install --image reg.example.com/tarmac:0.1.0 > tarmac.yaml
          tarmac install --image reg.example.com/tarmac:0.1.0 --apply
          kubectl -n tarmac-system create secret generic tarmac-store \\
            --from-literal=url=postgres://tarmac@db/tarmac
          kubectl -n tarmac-system create secret generic tarmac-store \\
            --from-literal=password=$(openssl rand -hex 24)   # --bundled-postgres
          head -c 32 /dev/urandom > credential.key
          kubectl -n tarmac-system create secret generic \\
            tarmac-credential-key --from-file=credential.key
        """)

    @OptionGroup var platform: PlatformOption
    @Option(help: "The image built from the Containerfile, e.g. registry.example.com/tarmac:0.1.0.") var image: String
    @Option(help: "Replicas (one leads, the others forward to it).") var replicas: Int = 2
    @Option(help: "Port of the tool gateway (default: none).") var gatewayPort: Int?
    @Option(help: "Port of the inference gateway (default: none).") var inferencePort: Int?
    @Option(help: ArgumentHelp("The Gateway (Gateway API) InferenceServices' HTTPRoutes attach to.", valueName: "namespace/name")) var inferenceGateway: String?
    @Flag(help: "Render a PostgreSQL for the store too (one StatefulSet pod; for small installs).") var bundledPostgres = false
    @Option(help: "With --bundled-postgres: the size of its volume.") var postgresStorage: String = "10Gi"
    @Option(help: "With --bundled-postgres: its volume's StorageClass (default: the cluster's default).") var postgresStorageClass: String?
    @Option(help: "With --bundled-postgres: the image (the official one's Debian variant: its postgres user is uid 999).") var postgresImage: String = BundledPostgres().image
    @Flag(help: "Apply the objects to the cluster (server-side apply) instead of printing them.") var apply = false
    @OptionGroup(title: "Cluster (with --apply)") var cluster: ClusterOptions
    @Option(name: .shortAndLong, help: "Output format: yaml or json (the objects), or text (with --apply: what was applied).") var output: OutputFormatOption?

    func validate() throws {
        guard (1...9).contains(replicas) else { throw ValidationError("--replicas must be 1 to 9") }
        guard !image.isEmpty, !image.contains(" ") else { throw ValidationError("--image must name an image, e.g. registry.example.com/tarmac:0.1.0") }
        for (p, flag) in [(gatewayPort, "--gateway-port"), (inferencePort, "--inference-port")] {
            if let p, !(1...65535).contains(p) || p == 8080 { throw ValidationError("\(flag) must be 1 to 65535 and not 8080 (the API's)") }
        }
        if let g = inferenceGateway, g.split(separator: "/").count != 2 { throw ValidationError("--inference-gateway must be NAMESPACE/NAME") }
        if case .failure = ByteQuantity.parse(postgresStorage) { throw ValidationError("--postgres-storage must be a quantity such as 10Gi") }
    }

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let path = try platform.required()
        let contract = try PlatformOption.load(path, nothing: "nothing was rendered")
        let objects = try Self.objects(contract, platformPath: path, options: options)
        guard apply else {
            let format = output?.format ?? .yaml
            switch format {
            case .json:
                let data = try JSONSerialization.data(withJSONObject: ["apiVersion": "v1", "kind": "List", "items": objects.map(\.json)], options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
                print(String(decoding: data, as: UTF8.self))
            default:
                print(objects.map(\.yaml).joined(separator: "---\n"), terminator: "")
            }
            return
        }
        let access = try cluster.access()
        let client = try KubeClient(access)
        var rows: [[String]] = []
        var failed = false
        for o in objects {
            do {
                _ = try await client.apply(ResourcePath.of(o), o.json)
                rows.append([o.kind, o.namespace ?? "-", o.name, "applied"])
            } catch let e as KubeError {
                failed = true
                rows.append([o.kind, o.namespace ?? "-", o.name, "refused: \(e.code) \(e.message)"])
            } catch {
                Terminal.writeError(Terminal.paint("error", "31;1") + ": cannot reach the cluster at \(access.server): \(error)")
                throw ExitCode(5)
            }
        }
        print(Terminal.table(["KIND", "NAMESPACE", "NAME", "RESULT"], rows))
        for (secret, key) in [(options.storeSecret, bundledPostgres ? "password" : "url"), (options.credentialKeySecret, "credential.key")] {
            let found = try? await client.get("/api/v1/namespaces/\(Naming.systemNamespace)/secrets/\(secret)")
            if found == nil {
                Terminal.writeError("warning: Secret \(Naming.systemNamespace)/\(secret) (key \(key)) is missing: the pods wait for it (see tarmac install --help)")
            } else if ((found?["data"] as? [String: Any])?[key]) == nil {
                Terminal.writeError("warning: Secret \(Naming.systemNamespace)/\(secret) has no key \(key)")
            }
        }
        if failed { throw ExitCode(1) }
    }

    var options: InstallOptions {
        var o = InstallOptions(image: image)
        o.replicas = replicas
        o.gatewayPort = gatewayPort
        o.inferencePort = inferencePort
        o.inferenceGateway = inferenceGateway
        if bundledPostgres {
            var pg = BundledPostgres()
            pg.storage = postgresStorage
            pg.storageClass = postgresStorageClass
            pg.image = postgresImage
            o.bundledPostgres = pg
        }
        return o
    }

    /// The objects, with the contract's files by their path from the platform file's folder (all must be under it).
    static func objects(_ contract: Contract, platformPath: String, options: InstallOptions) throws -> [KubeObject] {
        let root = URL(fileURLWithPath: platformPath).standardizedFileURL.deletingLastPathComponent().path
        var files: [(path: String, text: String)] = []
        for f in contract.files {
            let full = URL(fileURLWithPath: f).standardizedFileURL.path
            guard full.hasPrefix(root + "/") else {
                throw ValidationError("the contract's file \(f) is outside the platform's folder \(root): the ConfigMap holds that folder's files only")
            }
            files.append((String(full.dropFirst(root.count + 1)), try String(contentsOfFile: full, encoding: .utf8)))
        }
        let platformFile = URL(fileURLWithPath: platformPath).lastPathComponent
        return InstallRenderer.render(contract, platformFiles: files, platformFile: platformFile, options: options)
    }
}
