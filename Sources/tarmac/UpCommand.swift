import TarmacCore
import ArgumentParser
import Crypto
import Foundation
import TarmacDelivery
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import AsyncHTTPClient
import TarmacContract
import TarmacCredentials
import TarmacGateway
import TarmacManifests
import TarmacKinds
import TarmacKubernetes
import TarmacFleet
import TarmacKubernetesBackend
import TarmacLocal
import TarmacMetering
import TarmacModel
import TarmacRuntime
import TarmacServer
import TarmacPortal
import TarmacStoreSQLite
import TarmacStorePostgres
import TarmacWorkdir

struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Run the Tarmac control plane on this machine: API server, scheduler and local backend in one process.",
        discussion: """
        With no arguments it serves the bundled example platform (examples/platform/platform.yaml) on http://127.0.0.1:8080 and keeps its state in ./.tarmac. Workloads run as local processes; their image is not run, their command is. The inventory is this machine: the contract's `local` section (cpu, memory, gpus, accelerator) where set, else its cores, memory and the GPUs `nvidia-smi -L` lists. The first start creates an admin token, prints it once and writes it to the CLI's credentials file (mode 0600), so `tarmac submit` works right away from another terminal.

        With --backend kubernetes the same control plane drives a cluster instead: at start it applies the platform's objects (namespaces with Pod Security `restricted`, quotas, limit ranges, network policies, priority classes, admission policies) with server-side apply; the inventory is the cluster's Ready, uncordoned nodes that match a pool's nodeSelector, less what pods Tarmac did not create request on them. A queued workload's objects exist in its team's namespace, held (a suspended Job, a Deployment at zero replicas); admission pins its pods to the nodes Tarmac chose and releases them. State stays in the data directory, so a restart adopts what exists in the cluster.

        SIGTERM or Ctrl-C stops the server gracefully; running workloads keep running and the next start takes them back. SIGHUP loads the platform contract again: without errors it is put in force at once (queued and running workloads keep the size they were resolved with); with errors the running contract stays and the problems are logged.

        Examples:
          tarmac up
          tarmac up --backend kubernetes --context gpu-cluster
          tarmac up --platform platform.yaml --data /var/lib/tarmac --port 9090
          tarmac up --host 0.0.0.0 --allow-remote
        """)

    enum BackendName: String, ExpressibleByArgument, CaseIterable { case local, kubernetes, simulated }

    @OptionGroup var platform: PlatformOption
    @Option(help: ArgumentHelp("Where workloads run: local (processes on this machine) or kubernetes (a cluster).",
                               discussion: "simulated is for benchmarks only: the contract's pools as declared, and pods that run without a process (`sleep N` ends after N seconds, anything else runs until stopped)."))
    var backend: BackendName = .local
    @OptionGroup(title: "Kubernetes backend") var cluster: ClusterOptions
    @Option(help: ArgumentHelp("With --backend kubernetes: seconds between two comparisons of the platform's objects with each cluster (drift is corrected and reported).",
                               valueName: "seconds"))
    var platformResync: Int = 60

    @Option(help: "Data directory (store, pod logs).") var data: String = ".tarmac"
    @Option(help: ArgumentHelp("Where the control plane's state is kept: a PostgreSQL URL, postgres://USER@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require] (default: the SQLite file DATA/tarmac.db).",
                               discussion: "The password comes from PGPASSWORD (or the URL). Missing migrations are applied at start, one replica at a time. Also TARMAC_STORE.",
                               valueName: "url"))
    var store: String?
    @Option(help: ArgumentHelp("The 32-byte key workload credentials are derived from and signing keys are sealed with (default: DATA/workload-credentials.key, created at the first start).",
                               discussion: "Replicas that share a --store must share this key (mount the same Secret): the signing keys in the store are sealed with it. Given, the file must exist: create one with `head -c 32 /dev/urandom > FILE`.",
                               valueName: "file"))
    var credentialKey: String?
    @Flag(help: ArgumentHelp("Run as one of several replicas that share one --store: lead while holding a Kubernetes Lease, forward to the leader otherwise.",
                             discussion: "Needs a PostgreSQL --store and a cluster for the Lease (--kubeconfig, --context or --in-cluster). The leader applies missing migrations, claims the next epoch (every write it makes is fenced by it: once another replica leads, nothing more of it is written) and runs the control plane. Every other replica is a follower: it forwards each request of its ports (API, tool gateway, inference gateway) to the leader's, at the addresses the leader wrote in the Lease (--peer-host), and is ready while the leader is; with no leader reachable it answers 503 with Retry-After. A leader that cannot renew the Lease within the renew deadline exits with status 75, as Kubernetes' controllers do, to start again as a follower; stopped with SIGTERM it gives the Lease up at once."))
    var leaderElect = false
    @Option(help: ArgumentHelp("With --leader-elect: the Lease, NAMESPACE/NAME.", valueName: "namespace/name")) var leaderLease: String = "tarmac-system/tarmac-leader"
    @Option(help: "With --leader-elect: seconds a leader's claim lasts after its last renewal (Kubernetes' default).") var leaseDuration: Double = 15
    @Option(help: "With --leader-elect: seconds the leader keeps trying to renew before it stops leading.") var renewDeadline: Double = 10
    @Option(help: "With --leader-elect: seconds between tries to acquire or renew the Lease.") var retryPeriod: Double = 2
    @Option(help: ArgumentHelp("With --leader-elect: the address other replicas reach this one's ports at, while it leads (default: POD_IP, else --host unless it is 0.0.0.0 or ::, else this machine's name).",
                               valueName: "host"))
    var peerHost: String?
    @Option(help: "Port to listen on.") var port: Int = 8080
    @Option(help: "Address to listen on (beyond loopback needs --allow-remote).") var host: String = "127.0.0.1"
    @Flag(help: "Allow listening on a non-loopback address.") var allowRemote = false
    @Option(help: "CPUs this machine offers (default: the contract's local.cpu, else all cores).") var cpus: Int?
    @Option(help: "Memory this machine offers, e.g. 16Gi (default: the contract's local.memory, else all of it).") var memory: String?
    @Option(help: "Seconds between SIGTERM and SIGKILL when a pod is stopped.") var grace: Double = 10
    @Option(help: "API requests per second allowed per token (0: unlimited).") var rateLimit: Double = 50
    @Option(help: "Seconds an upload's body may stall (no byte received) before the request is answered 408 and its connection closed.")
    var uploadIdleTimeout: Double = 30
    @Option(help: "Largest model file the registry takes (one file of a version, e.g. one safetensors shard).") var modelFileLimit: String = "64Gi"
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel: String = "info"

    @Option(help: ArgumentHelp("How local pods are confined: auto (the strongest this machine allows), uid, landlock or none.",
                               discussion: "uid (as root): a user id, mount namespace, /tmp and /proc view of its own per pod. landlock (as any user, Linux 5.13+): pods cannot read the data directory, the server's home or credentials, write outside their sandbox or signal other processes. none: pods can read everything the server can."))
    var isolation: IsolationChoice = .auto
    @Flag(help: "Start even though pods cannot be isolated and the platform has several teams (their pods could read each other's data and the admin token).")
    var allowSharedMachine = false
    @Option(help: "URL pods reach this API at, for their checkpoint reports (TARMAC_CHECKPOINT_URL). Default: this server's loopback URL with the local backend; none with kubernetes.")
    var advertiseURL: String?
    @Option(help: ArgumentHelp("Port of the tool gateway, which agents call tools through (default: no gateway).",
                               discussion: "Tools with an `upstream` in the contract are served at http://HOST:PORT/TOOL/...; each call needs a token from POST /v1/token for that tool."))
    var gatewayPort: Int?
    @Option(help: ArgumentHelp("Port of the inference gateway (default: none).",
                               discussion: "Running InferenceServices are served at http://HOST:PORT/TEAM/SERVICE/...; callers send an API token of someone who may read the team, or a workload's JWT-SVID for audience inference:TEAM/SERVICE."))
    var inferencePort: Int?
    @Option(help: ArgumentHelp("Seconds a request through the inference gateway waits for a service scaled to zero to start again.",
                               discussion: "An environment's idle policy (action: scaleToZero) gives an idle service's GPUs back; its next request wakes it and waits this long for a ready replica, then is answered 503 with Retry-After."))
    var coldStartTimeout: Double = 60
    @Option(help: ArgumentHelp("With --backend kubernetes: the Gateway (Gateway API) that InferenceServices' HTTPRoutes attach to.",
                               discussion: "NAMESPACE/NAME, created by the platform team with its gateway implementation's class. Each running InferenceService gets an HTTPRoute /TEAM/SERVICE on it; a rollout moves its weights.",
                               valueName: "namespace/name"))
    var inferenceGateway = ServiceRoute.Parent()
    @Option(help: "URL agents reach the tool gateway at (TARMAC_GATEWAY_URL, and the resource in its metadata). Default: its loopback URL with the local backend; none with kubernetes.")
    var gatewayURL: String?
    @Option(help: "File the audit chain's head is appended to every 10 s (default: DATA/audit-anchors.jsonl; put it on another disk to guard the store against a cut-off tail).")
    var auditAnchors: String?
    @Option(name: .customLong("pod-path"), help: ArgumentHelp("Add DIR to local pods' PATH, exposed read-only (repeatable); -DIR leaves DIR and what is under it out.",
                                                              discussion: "By default pods get the server's PATH, and what it leads to under the server's home (a venv, pyenv, conda, ~/.local) is exposed read-only; nothing else of the home is.",
                                                              valueName: "[-]DIR"))
    var podPath: [String] = []
    @Option(help: ArgumentHelp("Kernel limits for local pods: auto (cgroups where this machine allows them) or off (the supervisor watches memory).", valueName: "auto|off"))
    var podCgroups: CgroupChoice = .auto
    @Option(help: ArgumentHelp("A delegated cgroup v2 directory to make local pods' cgroups in (default: found automatically).", valueName: "DIR"))
    var cgroupParent: String?
    @Option(help: "Most processes and threads one local pod may have (cgroup pids.max).") var podPids: Int = 4096
    @Flag(help: "Mark the portal's session cookie Secure: the portal is reached over HTTPS (behind a TLS proxy). Implied by an https --advertise-url.")
    var portalSecureCookies = false

    enum CgroupChoice: String, ExpressibleByArgument, CaseIterable { case auto, off }

    enum IsolationChoice: String, ExpressibleByArgument, CaseIterable {
        case auto, uid, landlock, none
        var mode: Isolation.Mode? { Isolation.Mode(rawValue: rawValue) }
    }

    var leaseName: (namespace: String, name: String)? {
        let parts = leaderLease.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    var electionSettings: LeaderElectionSettings {
        func d(_ s: Double) -> Duration { .milliseconds(Int64((s * 1000).rounded())) }
        return LeaderElectionSettings(leaseDuration: d(leaseDuration), renewDeadline: d(renewDeadline), retryPeriod: d(retryPeriod))
    }

    /// --store, else TARMAC_STORE (nil: the SQLite file in the data directory).
    var storeURL: String? {
        (store ?? ProcessInfo.processInfo.environment["TARMAC_STORE"]).flatMap { $0.isEmpty ? nil : $0 }
    }

    var modelFileBytes: Int64? {
        guard case .success(let q) = ByteQuantity.parse(modelFileLimit), q.bytes > 0 else { return nil }
        return q.bytes
    }

    func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port must be 1 to 65535") }
        guard platformResync >= 1 else { throw ValidationError("--platform-resync must be at least 1 second") }
        if let g = gatewayPort {
            guard (1...65535).contains(g) else { throw ValidationError("--gateway-port must be 1 to 65535") }
            guard g != port else { throw ValidationError("--gateway-port must differ from --port") }
        }
        if let i = inferencePort {
            guard (1...65535).contains(i) else { throw ValidationError("--inference-port must be 1 to 65535") }
            guard i != port && i != gatewayPort else { throw ValidationError("--inference-port must differ from --port and --gateway-port") }
        }
        if let u = gatewayURL {
            guard gatewayPort != nil else { throw ValidationError("--gateway-url needs --gateway-port") }
            guard let c = URLComponents(string: u), ["http", "https"].contains(c.scheme ?? ""), c.host?.isEmpty == false, c.query == nil else {
                throw ValidationError("--gateway-url must be an http:// or https:// URL such as http://tarmac.tarmac-system.svc:8081, not '\(u)'")
            }
        }
        let loopback = ["127.0.0.1", "::1", "localhost"].contains(host) || host.hasPrefix("127.")
        if !loopback && !allowRemote {
            throw ValidationError("listening on \(host) exposes the API beyond this machine; add --allow-remote if that is what you want")
        }
        if Logger.Level(rawValue: logLevel) == nil { throw ValidationError("unknown --log-level '\(logLevel)'") }
        if let url = storeURL {
            do { _ = try PostgresLocation(url: url) } catch { throw ValidationError("--store: \(error)") }
        }
        if leaderElect {
            guard storeURL != nil else { throw ValidationError("--leader-elect needs a --store postgres://… that the replicas share") }
            guard credentialKey != nil else { throw ValidationError("--leader-elect needs a --credential-key FILE that the replicas share (the signing keys in the store are sealed with it)") }
            guard leaseName != nil else { throw ValidationError("--leader-lease must be NAMESPACE/NAME, not '\(leaderLease)'") }
            do { try electionSettings.validate() } catch { throw ValidationError("--lease-duration, --renew-deadline, --retry-period: \(error)") }
        }
        if grace < 0 { throw ValidationError("--grace must not be negative") }
        if uploadIdleTimeout <= 0 { throw ValidationError("--upload-idle-timeout must be positive") }
        if coldStartTimeout <= 0 { throw ValidationError("--cold-start-timeout must be positive") }
        guard modelFileBytes != nil else { throw ValidationError("--model-file-limit must be a quantity such as 64Gi") }
        if podPids < 16 { throw ValidationError("--pod-pids must be at least 16") }
        for p in podPath where !(p.hasPrefix("/") || p.hasPrefix("-/")) {
            throw ValidationError("--pod-path takes an absolute directory (or -DIR to leave one out), not '\(p)'")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "tarmac")
        guard let path = platform.path ?? Self.bundledPlatform() else {
            throw ValidationError("no platform: name one with --platform FILE (or TARMAC_PLATFORM); the bundled example is examples/platform/platform.yaml in the Tarmac repository")
        }
        let loaded = ContractLoader.load(path)
        for d in loaded.diagnostics { Terminal.writeError(Terminal.render(d)) }
        guard let contract = loaded.contract, !loaded.diagnostics.hasErrors else {
            Terminal.writeError("the platform contract has errors; fix them and start again")
            throw ExitCode(1)
        }
        var memoryMiB: Int?
        if let memory {
            guard case .success(let q) = ByteQuantity.parse(memory) else { throw ValidationError("--memory must be a quantity such as 16Gi") }
            memoryMiB = Int(q.bytes >> 20)
        }

        // Its ports and its data directory are this server's before anything is touched (the store, pods, a cluster).
        for (p, flag) in [(port, "--port"), (gatewayPort, "--gateway-port"), (inferencePort, "--inference-port")] {
            guard let p, let why = PortCheck.unavailable(host: host, port: p) else { continue }
            Terminal.writeError("error: cannot listen on \(host):\(p): \(why); stop what listens there, or choose another port with \(flag) N")
            throw ExitCode(Exit.held)
        }
        // What the control plane writes is its user's only: the store, pod directories, logs, anchors.
        umask(0o077)
        try FileManager.default.createDirectory(atPath: data + "/pods", withIntermediateDirectories: true)
        let dataDir = SandboxPolicy.realPath(URL(fileURLWithPath: data).standardizedFileURL.path)
        // One control plane per data directory.
        let lock: DataDirectoryLock
        do {
            lock = try DataDirectoryLock(directory: dataDir, holder: .init(pid: getpid(), port: port, host: host, gatewayPort: gatewayPort, since: SystemClock().now))
        } catch let held as DataDirectoryLock.Held {
            Terminal.writeError("error: \(held)\n  stop that server first, or give this one a data directory of its own with --data DIR")
            throw ExitCode(Exit.held)
        }
        for p in [dataDir, dataDir + "/pods"] { chmod(p, 0o700) }
        let store: any Store
        let storeLine: String
        var leadership: (elector: LeaseElector, epoch: Int64)?
        if let url = storeURL {
            let location = try PostgresLocation(url: url)
            do {
                // A replica that may not lead must not migrate: the leader does, once it holds the Lease.
                let pg = leaderElect ? try PostgresStore(location, logger: Logger(label: "tarmac.store"))
                    : try await PostgresStore.open(location, logger: Logger(label: "tarmac.store"))
                if leaderElect { try await pg.reach() }
                if leaderElect { leadership = try await lead(pg, logger: logger) }
                store = pg
                let schema = try await pg.schema()
                storeLine = "store     PostgreSQL \(location) (schema: \(schema.applied.count) migrations, last \(schema.applied.last ?? "none"))"
                    + (leadership.map { "\n  leader    \($0.elector.identity), epoch \($0.epoch) (Lease \($0.elector.namespace)/\($0.elector.name))" } ?? "")
            } catch let e as PostgresStoreError {
                Terminal.writeError("error: cannot use the store at \(location): \(e)")
                throw ExitCode(5)
            }
        } else {
            store = try SQLiteStore(path: dataDir + "/tarmac.db")
            for suffix in ["", "-wal", "-shm"] { chmod(dataDir + "/tarmac.db" + suffix, 0o600) }
            storeLine = "store     SQLite \(dataDir)/tarmac.db"
        }
        let workdirs = try WorkdirStore(root: dataDir + "/workdirs")
        let modelFiles = try ModelArtifacts(root: dataDir + "/models", fileLimit: modelFileBytes ?? ModelArtifacts.defaultFileLimit)
        let anchors = auditAnchors.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? AuditAnchor.defaultPath(data: dataDir)
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        let runtime: any Backend
        var where_: String
        var isolationLine: String?
        var limitsLine: String?
        var kubernetes: KubernetesBackend?
        var kubeClient: KubeClient?
        var fleet: FleetBackend?
        var fleetMembers: [KubernetesBackend] = []
        /// Where GPU readings come from: this machine's NVML (one long-running nvidia-smi) when it has GPUs; on Kubernetes
        /// dcgm-exporter's pods.
        var telemetrySource: (any TelemetrySource)?
        switch backend {
        case .local:
            let machine = await MachineInventory.detect(platform: contract.platform, cpus: cpus, memoryMiB: memoryMiB)
            if machine.gpus > 0, !(await MachineInventory.nvidiaGPUs()).isEmpty {
                // Each GPU's processes are resolved to their pods' workloads (their memory measured, not split).
                let owner = ProcessOwner(podsRoot: dataDir + "/pods")
                telemetrySource = NvidiaSMIReader(node: machine.name, pidFile: dataDir + "/gpu-reader.pid", owner: { owner.workload(of: $0) },
                                                  logger: Logger(label: "tarmac.telemetry"))
            }
            let chosen: Isolation
            do {
                chosen = try Isolation.choose(isolation.mode, probe: try await Isolation.probe(executable: Self.executablePath()))
            } catch {
                Terminal.writeError("error: --isolation \(isolation.rawValue): \(error)")
                throw ExitCode(1)
            }
            if !chosen.containsPods {
                Terminal.writeError("WARNING: local pods are NOT isolated on this machine: they run as \(NSUserName()) and can read the data directory (\(dataDir)), the store and the admin credentials. Run tarmac up as root (per-pod user ids) or on Linux 5.13+ with Landlock.")
                if contract.platform.teams.count > 1 && !allowSharedMachine {
                    Terminal.writeError("error: the platform has \(contract.platform.teams.count) teams, whose pods could read each other's data here; start with --allow-shared-machine if every member is trusted with all of it")
                    throw ExitCode(1)
                }
            }
            let secrets = [Credentials.path, anchors].map { SandboxPolicy.realPath($0) }
            var hidden = secrets
            let environment = ProcessInfo.processInfo.environment
            let home = environment["HOME"].flatMap { $0 == "/" || $0.isEmpty ? nil : SandboxPolicy.realPath($0) }
            if let home { hidden.append(home) }
            if chosen.mode == .landlock { hidden += ["/tmp", "/var/tmp"].map { SandboxPolicy.realPath($0) } }
            // The programs pods run: the server's PATH, and what it leads to under the home, read-only.
            let toolchain: PodToolchain
            do {
                toolchain = try PodToolchain.discover(serverPath: environment["PATH"] ?? "", environment: environment, home: home,
                                                      hidden: secrets + [dataDir], add: podPath.filter { !$0.hasPrefix("-") },
                                                      remove: podPath.filter { $0.hasPrefix("-") }.map { String($0.dropFirst()) }, fs: .live)
            } catch {
                Terminal.writeError("error: \(error)")
                throw ExitCode(Exit.usage)
            }
            var cgroups: CgroupSetup?
            switch podCgroups {
            case .off: limitsLine = "limits    memory watched by each pod's supervisor (--pod-cgroups off); CPU by the engine's accounting only"
            case .auto:
                let name = "d" + SHA256.hash(data: Data(dataDir.utf8)).prefix(6).map { String(format: "%02x", $0) }.joined()
                switch CgroupSetup.prepare(name: name, pidsMax: podPids, parent: cgroupParent) {
                case .success(let c):
                    cgroups = c
                    limitsLine = "limits    \(c.summary)"
                case .failure(let why):
                    if cgroupParent != nil {
                        Terminal.writeError("error: --cgroup-parent \(cgroupParent!): \(why)")
                        throw ExitCode(Exit.usage)
                    }
                    limitsLine = "limits    no cgroups (\(why)): memory watched by each pod's supervisor, CPU by the engine's accounting only"
                }
            }
            let policy = SandboxPolicy(isolation: chosen, dataDirectory: dataDir, hidden: hidden, home: home, toolchain: toolchain, cgroups: cgroups)
            runtime = LocalBackend(root: dataDir + "/pods", supervisor: Self.executablePath(), machine: machine, sandbox: policy, workdirs: workdirs,
                                   modelFiles: dataDir + "/models")
            isolationLine = "isolation \(chosen.summary)\n            \(toolchain.summary(home: home))"
            let gpuText = machine.gpus > 0 ? ", \(machine.gpus) GPU\(machine.gpus == 1 ? "" : "s") (\(machine.accelerator ?? "unknown model"))" : ", no GPU"
            where_ = "machine   \(machine.name): \(String(format: "%g", Double(machine.cpuMilli) / 1000)) CPUs, \(machine.memoryMiB / 1024) GiB\(gpuText)"
        case .kubernetes where !contract.platform.clusters.isEmpty:
            let started: FleetSetup.Started
            do {
                started = try await FleetSetup(contract: contract, cluster: cluster, dataDir: dataDir, platformResync: .seconds(platformResync)).start()
            } catch {
                Terminal.writeError("error: \(error)")
                throw ExitCode(5)
            }
            let nodes = try await started.fleet.nodes()
            where_ = "clusters  \(contract.platform.clusters.count) (\(nodes.count) nodes, \(nodes.map(\.gpus).reduce(0, +)) GPUs reachable; lost after \(contract.platform.clusterLostTimeout) out of reach)\n"
                + started.lines.map { "          " + $0.dropFirst(2) }.joined(separator: "\n")
            runtime = started.fleet
            fleet = started.fleet
            fleetMembers = started.members.map(\.backend)
            if let first = started.members.first {
                kubernetes = first.backend
                kubeClient = first.client
            }
        case .kubernetes:
            let access = try cluster.access()
            let client = try KubeClient(access, logger: Logger(label: "tarmac.kubernetes"))
            let k = KubernetesBackend(client: client, contract: contract, options: KubernetesBackendOptions(logDirectory: dataDir + "/logs", platformResync: .seconds(platformResync)))
            do { try await k.start() } catch {
                Terminal.writeError("error: cannot drive the cluster at \(access.server): \(error)")
                throw ExitCode(5)
            }
            let nodes = try await k.nodes()
            let gpus = nodes.map(\.gpus).reduce(0, +)
            let applied = await k.platformOutcomes
            where_ = "cluster   \(access.server): \(nodes.count) node\(nodes.count == 1 ? "" : "s"), \(gpus) GPU\(gpus == 1 ? "" : "s") free for Tarmac; platform: \(applied.filter { $0.action == .created }.count) created, \(applied.filter { $0.action == .updated }.count) corrected, \(applied.filter { $0.action == .unchanged }.count) unchanged; acting as \(await k.controllerUser)"
            runtime = k
            kubernetes = k
            kubeClient = client
            // GPU telemetry: dcgm-exporter's pages, through the API server's pod proxy.
            telemetrySource = DCGMExporterSource(client: client, settings: contract.platform.metrics.dcgmExporter ?? DCGMExporterSettings(), backend: k,
                                                 logger: Logger(label: "tarmac.telemetry"))
        case .simulated:
            let sim = SimulatedBackend(platform: contract.platform)
            let nodes = try await sim.nodes()
            where_ = "SIMULATED backend, for benchmarks only: \(nodes.count) nodes of the contract's pools (\(String(format: "%g", Double(nodes.map(\.cpuMilli).reduce(0, +)) / 1000)) CPUs, \(nodes.map(\.gpus).reduce(0, +)) GPUs); pods run no process"
            runtime = sim
        }
        let loopback = host == "0.0.0.0" || host == "::" ? "127.0.0.1" : host
        /// http://HOST:PORT, with an IPv6 host in brackets.
        func httpURL(_ host: String, _ port: Int) -> String { "http://\(host.contains(":") ? "[\(host)]" : host):\(port)" }
        let advertise = advertiseURL ?? (backend == .local ? httpURL(loopback, port) : nil)
        var config = ControlPlaneConfig(graceSeconds: grace, advertiseURL: advertise.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 },
                                        credentialKey: try loadCredentialKey(dataDir: dataDir))
        if let gatewayPort {
            let url = gatewayURL ?? (backend == .kubernetes ? nil : httpURL(loopback, gatewayPort))
            config.gatewayURL = url.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        }
        let controlPlane = ControlPlane(contract: contract, store: store, backend: runtime, config: config, logger: logger)
        let metering = MeteringService(controlPlane.transitions, store: store)
        let tokens = Tokens(store: store, teams: Set(contract.platform.teams.keys))
        let url = httpURL(host, port)
        let secret = try await tokens.bootstrap()
        // Workload identity: tokens are issued as this server (the address pods reach it at).
        let issuer = config.advertiseURL ?? url
        let credentials = try await Self.unsealing(credentialKey ?? dataDir + "/workload-credentials.key") {
            try await CredentialAuthority.load(issuer: issuer, store: store, controlPlane: controlPlane, sealingKey: config.credentialKey,
                                               logger: Logger(label: "tarmac.credentials"))
        }
        let credentialService = CredentialService(credentials, transitions: controlPlane.transitions, logger: Logger(label: "tarmac.credentials"))
        // Recovery (the store's workloads, the backend's pods) starts once the API's port is bound; requests wait for it.
        let portBound = ReadinessGate(), recovered = ReadinessGate()
        let recovery = LifecycleService.Recovery(portBound: portBound, recovered: recovered, then: { try await credentials.adoptLiveAttempts() })
        var services: [any Service] = [LifecycleService(controlPlane, recovery: recovery), metering, credentialService]
        if let leadership { services.append(LeadershipService(elector: leadership.elector, logger: Logger(label: "tarmac.leader"))) }
        var gatewayLine = "gateway   off (--gateway-port PORT serves the contract's tools to agents)"
        var gatewayClient: HTTPClient?
        if let gatewayPort {
            let client = ToolGateway.makeClient()
            gatewayClient = client
            let gatewayURL = config.gatewayURL ?? httpURL(loopback, gatewayPort)
            if config.gatewayURL == nil { Terminal.writeError("warning: agents are not told where the gateway is (TARMAC_GATEWAY_URL): give --gateway-url, the address pods reach port \(gatewayPort) at") }
            // The gateway's upstream credentials: environment variables locally, the Secret tarmac-system/tarmac-gateway on Kubernetes.
            let source: UpstreamCredentials.Source = kubernetes.map { k in .secret(place: "\(Naming.systemNamespace)/\(Naming.gatewaySecret)", read: { try await k.gatewayCredentials() }) } ?? .environment
            let upstreamCredentials = UpstreamCredentials(source: source, logger: Logger(label: "tarmac.gateway"))
            await upstreamCredentials.load()
            let gateway = ToolGateway(authority: credentials, tools: { controlPlane.tools }, store: store, client: client,
                                      credentials: upstreamCredentials, config: .init(publicURL: gatewayURL), logger: Logger(label: "tarmac.gateway"))
            services.append(gateway.audit)
            services.append(upstreamCredentials)
            services.append(AfterGate(recovered, GatewayServer(gateway: gateway, host: host, port: gatewayPort)))
            let served = contract.platform.tools.values.filter { $0.upstream != nil }.map(\.name).sorted()
            gatewayLine = "gateway   \(gatewayURL)/TOOL (\(served.isEmpty ? "no tool has an upstream" : served.joined(separator: ", ")))"
            for t in contract.platform.tools.values.sorted(by: { $0.name < $1.name }) {
                if t.upstream != nil, case .failure(let why) = upstreamCredentials.value(for: t) { Terminal.writeError("warning: \(why)") }
            }
        }

        var inferenceLine: String?
        var rollouts: RolloutRunner?
        // Rollouts' analysis reads the contract's Prometheus when it names one, else Tarmac's own gateway.
        let prometheus = contract.platform.metrics.prometheus.map { PrometheusSource(url: $0, queries: contract.platform.metrics.queries, logger: Logger(label: "tarmac.rollouts")) }
        if let inferencePort {
            let routes = InferenceRoutes()
            // Callers: an API token, a workload's JWT-SVID for audience inference:TEAM/SERVICE, or an agent's access token
            // for it (token exchange, in its own name or a person's): a viewer of its own team.
            var inference = InferenceGateway(routes: routes, callers: { token in
                if token.hasPrefix("tmc_") { return (try? await tokens.authenticate(token)).map { InferenceCaller(principal: $0) } }
                if credentials.isAccessToken(token) {
                    guard let c = await credentials.verifyServiceAccess(token) else { return nil }
                    return InferenceCaller(principal: Principal(tokenID: "at:" + c.jti, name: c.sub, role: .viewer, team: c.tarmac.team), audiences: c.aud.values)
                }
                guard let c = await credentials.verifyWorkloadToken(token) else { return nil }
                return InferenceCaller(principal: Principal(tokenID: "svid:" + c.jti, name: c.sub, role: .viewer, team: c.tarmac.team), audiences: c.aud.values)
            }, logger: Logger(label: "tarmac.inference"))
            // A service scaled to zero by idle reclaim comes back on its next request.
            inference.coldStart = .init(timeout: .milliseconds(Int64(coldStartTimeout * 1000))) { team, service, caller in
                await controlPlane.wake(team: team, service: service, by: caller).startsFromZero
            }
            let runner = RolloutRunner(controlPlane: controlPlane, metrics: prometheus ?? inference.stats, observed: inference.stats, runsImages: backend == .kubernetes) { workload in
                guard let e = await controlPlane.current(workload) else { return false }
                let replicas = await controlPlane.endpoints(e).compactMap(InferenceRoute.Replica.init(url:))
                for r in replicas where !(await InferenceRouteRefresher.accepts(r)) { return false }
                // ...and the gateway routes to them already (its table is refreshed every 250 ms): a window measured
                // before that would count the gateway's own "no ready replica" against the new version.
                let routed = Set(routes.routes.flatMap { $0.versions.flatMap(\.replicas) })
                return !replicas.isEmpty && replicas.allSatisfy(routed.contains)
            }
            rollouts = runner
            services.append(AfterGate(recovered, RolloutService(runner: runner)))
            services.append(InferenceRouteRefresher(routes: routes, logger: Logger(label: "tarmac.inference")) {
                InferenceRouting.routes(TrafficPlan.services(await controlPlane.servedServices(), rollouts: await runner.routes()))
            })
            services.append(AfterGate(recovered, GatewayServer(gateway: inference, host: host, port: inferencePort)))
            // Tokens, answers and model loads into the ledger, every 5 s.
            let meter = inference.meter
            services.append(InferenceUsageService(store: store, now: { controlPlane.clock.now }, drain: {
                meter.drain().mapValues { ServedCounts(requests: $0.requests, promptTokens: $0.promptTokens, completionTokens: $0.completionTokens) }
            }, ready: {
                await controlPlane.readyServices(Set(routes.routes.flatMap { r in r.versions.filter { !$0.replicas.isEmpty }.compactMap(\.workload) }))
            }, describe: { await controlPlane.usageAttributes($0) }))
            inferenceLine = "inference \(httpURL(loopback, inferencePort))/TEAM/SERVICE/... (running InferenceServices)"
                + (prometheus.map { "; rollouts analyse figures from Prometheus \($0.url)" } ?? "")
        }
        if let kubeClient {
            // In the cluster each service is reached through its HTTPRoute on the inference Gateway; rollouts move its
            // weights. Without Tarmac's gateway in front nothing measures the versions: rollouts without analysis only.
            let runner = rollouts ?? RolloutRunner(controlPlane: controlPlane, metrics: prometheus, runsImages: true) { workload in
                await controlPlane.current(workload)?.state == .running
            }
            if rollouts == nil { services.append(AfterGate(recovered, RolloutService(runner: runner))) }
            rollouts = runner
            let router = KubernetesTrafficRouter(client: kubeClient, parent: inferenceGateway, logger: Logger(label: "tarmac.routes"))
            services.append(AfterGate(recovered, TrafficSync(router: router) {
                TrafficPlan.services(await controlPlane.servedServices(), rollouts: await runner.routes())
            }))
            inferenceLine = (inferenceLine.map { $0 + "\n  " } ?? "") + "routes    HTTPRoute per InferenceService on Gateway \(inferenceGateway) (Gateway API)"
        }
        let telemetry = telemetrySource.map { GPUTelemetryService(source: $0, controlPlane: controlPlane) }
        if let telemetry { services.append(telemetry) }
        var deps = ServerDependencies(controlPlane: controlPlane, tokens: tokens, registry: registry, runsImages: backend == .kubernetes,
                                      rateLimit: rateLimit, rateBurst: max(20, rateLimit * 4), auditAnchors: anchors,
                                      workdirs: workdirs, credentials: credentials, recovered: recovered,
                                      uploadIdleTimeout: .milliseconds(Int64(uploadIdleTimeout * 1000)),
                                      models: ModelRegistry(store: store, controlPlane: controlPlane, artifacts: modelFiles), rollouts: rollouts)
        deps.telemetry = telemetry
        let portal = PortalSessions(clock: SystemClock())
        deps.portal = portal
        deps.secureCookies = portalSecureCookies || (config.advertiseURL?.hasPrefix("https://") ?? false)
        let anchorService = AuditAnchorService(store: store, path: anchors, logger: Logger(label: "tarmac.audit"))
        let platformName = contract.platform.name
        let banner = where_
        let isolated = isolationLine
        services += [anchorService, AfterGate(recovered, ContractReloadService(path: path, controlPlane: controlPlane, logger: Logger(label: "tarmac.platform")))]
        let gatewayBanner = gatewayLine
        let inferenceBanner = inferenceLine
        let limits = limitsLine
        let app = buildApplication(deps, host: host, port: port, services: services, onServerRunning: { _ in
            portBound.open()
            print("Tarmac \(TarmacVersion.current) is up: platform \(platformName) from \(path)")
            print("  API       \(url)  (OpenAPI: \(url)/openapi.yaml, metrics: \(url)/metrics)")
            print("  data      \(dataDir) (held by this server, pid \(getpid()))")
            print("  \(storeLine)")
            print("  \(banner)")
            if let isolated { print("  \(isolated)") }
            if let limits { print("  \(limits)") }
            print("  audit     anchors in \(anchors)")
            print("  identity  issuer \(issuer) (JWKS: \(issuer)/.well-known/jwks.json, token exchange: POST \(issuer)/v1/token)")
            print("  \(gatewayBanner)")
            if let inferenceBanner { print("  \(inferenceBanner)") }
            let contextName = Credentials.name(forServer: url)
            // The portal: a one-time sign-in link for the token this machine has for this server (the admin token on a
            // first start), else how to get one.
            if let known = secret ?? Credentials.load()?.context(forServer: url)?.token {
                let link = portal.link(tokenHash: APIToken.hashOf(known))
                print("  portal    \(url)/portal/link?code=\(link.code)  (one-time sign-in link, valid 10 min; more: tarmac portal-link)")
            } else {
                print("  portal    \(url)/portal  (sign in with an API token, or a link from tarmac portal-link)")
            }
            if let secret {
                do {
                    var creds = Credentials.load() ?? Credentials()
                    let before = creds.current
                    let moved = creds.add(contextName, Credentials.Context(server: url, token: secret), makeCurrent: false)
                    try creds.save()
                    print("  login     admin token (shown once, saved to \(Credentials.path) as context \(contextName)):")
                    print("            \(secret)")
                    if let before, creds.current == before, before != contextName {
                        print("            the CLI still uses context \(before); use this server with --context \(contextName), or switch: tarmac login --context \(contextName)")
                    }
                    if let moved { print("            the token saved earlier for this address is kept as context \(moved)") }
                } catch {
                    print("  login     admin token (shown once; could not save credentials: \(error)):")
                    print("            \(secret)")
                }
            } else {
                print("  login     with the token of context \(contextName) in \(Credentials.path), or TARMAC_TOKEN")
            }
            print("Try: tarmac submit --wait examples/workloads/train-cpu.yaml")
            Terminal.flush()
        }, logger: logger)
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        withExtendedLifetime(lock) {}
        try? await gatewayClient?.shutdown()
        await fleet?.shutdown()
        for m in fleetMembers where m !== kubernetes { await m.shutdown() }
        await kubernetes?.shutdown()
        logger.info("stopped; running workloads keep running and are taken back at the next start")
    }

    /// --credential-key (which must exist), else the data directory's key (created at the first start).
    func loadCredentialKey(dataDir: String) throws -> SymmetricKey {
        guard let credentialKey else { return try CredentialKey.load(dataDir + "/workload-credentials.key") }
        guard FileManager.default.fileExists(atPath: credentialKey) else {
            throw ValidationError("no key at --credential-key \(credentialKey): create one with `head -c 32 /dev/urandom > \(credentialKey)` and give every replica the same")
        }
        return try CredentialKey.load(credentialKey)
    }

    /// Loads what the credential key unseals; a key that does not open the store's signing keys is said in words.
    static func unsealing<T>(_ keyPath: String, _ load: () async throws -> T) async throws -> T {
        do {
            return try await load()
        } catch let e as CryptoKitError {
            Terminal.writeError("error: the signing keys in the store cannot be unsealed with the credential key \(keyPath) (\(e)): replicas that share a store must share the key (--credential-key FILE, the same file or Secret for all)")
            throw ExitCode(5)
        }
    }

    /// Follows until this replica holds the Lease (forwarding every port's requests to the leader's), then claims
    /// leadership in the store: migrations first, the next epoch after.
    func lead(_ store: PostgresStore, logger: Logger) async throws -> (elector: LeaseElector, epoch: Int64) {
        guard let lease = leaseName else { throw ValidationError("--leader-lease must be NAMESPACE/NAME") }
        let access = try cluster.access()
        let kube = try KubeClient(access, logger: Logger(label: "tarmac.leader"))
        let env = ProcessInfo.processInfo.environment
        let identity = env["POD_NAME"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())"
        // Where this replica serves its ports while it leads: followers forward there.
        let me = peerHost ?? Self.defaultPeerHost(listening: host)
        var said: [String: String] = [LeaderAddress.annotation(for: .api): LeaderAddress.url(host: me, port: port)]
        if let gatewayPort { said[LeaderAddress.annotation(for: .tools)] = LeaderAddress.url(host: me, port: gatewayPort) }
        if let inferencePort { said[LeaderAddress.annotation(for: .inference)] = LeaderAddress.url(host: me, port: inferencePort) }
        let elector = try LeaseElector(client: kube, namespace: lease.namespace, name: lease.name, identity: identity, settings: electionSettings,
                                       annotations: said, logger: Logger(label: "tarmac.leader"))
        // Until it leads, every port forwards to the leader's.
        let client = LeaderForwarder.makeClient()
        var followers: [ServiceGroupConfiguration.ServiceConfiguration] = []
        for (which, p) in [(LeaderAddress.Port.api, port), (.tools, gatewayPort), (.inference, inferencePort)] {
            guard let p else { continue }
            let forwarder = LeaderForwarder(port: which, identity: identity, client: client, logger: Logger(label: "tarmac.follower")) {
                guard let holder = await elector.holder else { return nil }
                return LeaderAddress(holder: holder, url: await elector.holderAnnotations[LeaderAddress.annotation(for: which)])
            }
            followers.append(.init(service: buildFollowerApplication(host: host, port: p, forwarder: forwarder, logger: Logger(label: "tarmac.follower"))))
        }
        // Shut down once this replica leads (its ports are then the control plane's).
        let group = ServiceGroup(configuration: .init(services: followers, logger: Logger(label: "tarmac.follower")))
        let serving = Task { try await group.run() }
        print("Tarmac \(TarmacVersion.current) follows as \(identity): it forwards to the leader, and leads once it holds the Lease \(lease.namespace)/\(lease.name) (\(access.server))")
        Terminal.flush()
        func stopFollowing() async {
            await group.triggerGracefulShutdown()
            // The listening sockets close at once; a forwarded stream still open (a watch on the old leader) is not
            // waited for long: the leader it went to is gone.
            let waited = Task {
                try? await Task.sleep(for: .seconds(3))
                serving.cancel()
            }
            _ = try? await serving.value
            waited.cancel()
            try? await client.shutdown()
        }
        do {
            try await elector.acquire()
        } catch {
            await stopFollowing()
            throw error
        }
        await stopFollowing()
        do {
            let epoch = try await store.claimLeadership(holder: identity)
            logger.notice("leading", metadata: ["identity": "\(identity)", "epoch": "\(epoch)"])
            return (elector, epoch)
        } catch {
            // An older replica on a newer schema, say: it must not lead; another replica may.
            await elector.release()
            throw error
        }
    }

    /// Where other replicas reach this one: the pod's IP (POD_IP, from the downward API), else the listening address
    /// unless it is a wildcard, else this machine's name.
    static func defaultPeerHost(listening host: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let ip = environment["POD_IP"], !ip.isEmpty { return ip }
        if !["0.0.0.0", "::", "[::]", ""].contains(host) { return host }
        return ProcessInfo.processInfo.hostName
    }

    /// examples/platform/platform.yaml in the working directory or above it, or next to the executable's checkout.
    static func bundledPlatform() -> String? {
        let fm = FileManager.default
        var candidates: [URL] = []
        var dir = URL(fileURLWithPath: fm.currentDirectoryPath)
        for _ in 0..<6 {
            candidates.append(dir)
            dir.deleteLastPathComponent()
        }
        var exe = URL(fileURLWithPath: executablePath()).deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(exe)
            exe.deleteLastPathComponent()
        }
        return candidates.map { $0.appendingPathComponent("examples/platform/platform.yaml").path }.first { fm.fileExists(atPath: $0) }
    }

    static func executablePath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}
