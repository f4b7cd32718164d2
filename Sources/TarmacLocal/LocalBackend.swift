import TarmacCore
import Foundation
import Logging
import Subprocess
import SystemPackage
import TarmacPlanning
import TarmacWorkdir

#if canImport(Glibc)
import Glibc
#endif

/// The embedded backend: each pod is a supervised child process on this machine (DESIGN §6).
public actor LocalBackend: Backend {
    struct Key: Hashable { var workload: String, attempt: Int, pod: Int }

    let root: String
    let supervisor: String
    let machine: NodeInventory
    let logger: Logger
    /// How pods are confined (nil: not at all, as before sandboxes existed; only tests of the old layout use it).
    let sandbox: SandboxPolicy?
    /// Pods launched and not yet seen to end, with when (the clock's `elapsed`) they were launched.
    var tracked: [Key: Duration] = [:]
    let clock: any RuntimeClock
    /// User ids of pods that may still run (uid mode): a new pod never gets one of these.
    var uids: [Key: UInt32] = [:]
    /// Ports given to the replicas of services that may still run: two replicas never get the same one.
    var ports: [Key: Int] = [:]

    /// `root`: where pod directories live. `supervisor`: the executable whose `pod-supervisor DIR` subcommand supervises
    /// a pod (the tarmac binary itself).
    /// Where uploaded working directories are kept (`WorkdirStore`), if pods may have one.
    let workdirs: WorkdirStore?
    /// Where the model registry keeps files (`DATA/models`): a pod serving a registered version gets them laid out and checked.
    let modelFiles: String?

    public init(root: String, supervisor: String, machine: NodeInventory, sandbox: SandboxPolicy?, workdirs: WorkdirStore? = nil,
                modelFiles: String? = nil, clock: any RuntimeClock = SystemClock(), logger: Logger = Logger(label: "tarmac.local")) {
        self.modelFiles = modelFiles
        self.clock = clock
        self.workdirs = workdirs
        self.root = root
        self.supervisor = supervisor
        self.machine = machine
        self.sandbox = sandbox
        self.logger = logger
    }

    public func nodes() async throws -> [NodeInventory] { [machine] }

    nonisolated func directory(_ k: Key) -> PodDirectory { PodDirectory(root: root, workload: k.workload, attempt: k.attempt, pod: k.pod) }

    public func launch(_ pods: [PodLaunch]) async throws {
        let enc = JSONEncoder()
        enc.dateEncodingStrategy = .millisecondsSince1970
        var started = 0
        var lastError: (any Error)?
        for p in pods {
            let key = Key(workload: p.workload, attempt: p.attempt, pod: p.pod)
            let dir = directory(key)
            do {
                try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
                // Relaunching a pod that already has a supervisor or an ending would duplicate it: never.
                if dir.supervisorAlive || dir.hasStatus {
                    tracked[key] = clock.elapsed
                    continue
                }
                var p = p
                if let digest = p.workdir {
                    guard let archive = workdirs?.path(digest), FileManager.default.fileExists(atPath: archive) else {
                        throw WorkdirMissing(digest: digest)
                    }
                    p.workdirArchive = archive
                }
                if p.model != nil {
                    p.model!.keptFiles = modelFiles.map { $0 + "/" + p.model!.team }
                    p.environment["MODEL_DIR"] = dir.workDirectory + "/model"
                }
                // A service's replica listens on a port of its own (PORT), free on this machine when it starts: never
                // another replica's, never the server's (which is bound), never a fixed one that two services would share.
                if p.environment["PORT"] != nil {
                    guard let port = Self.freePort(avoiding: Set(ports.values)) else { throw POSIXError(.EADDRINUSE) }
                    p.environment["PORT"] = String(port)
                    ports[key] = port
                }
                try PodDirectory.writeAtomically(try enc.encode(p), to: dir.launchFile)
                if let spec = sandboxSpec(key, dir, p) {
                    try PodDirectory.writeAtomically(try JSONEncoder().encode(spec), to: dir.sandboxFile)
                }
                try spawn(dir)
                tracked[key] = clock.elapsed
                started += 1
            } catch {
                lastError = error
                logger.error("could not start pod", metadata: ["workload": "\(p.workload)", "pod": "\(p.pod)", "error": "\(error)"])
            }
        }
        if started == 0, let lastError { throw lastError }
    }

    /// A TCP port nothing listens on now (the kernel's choice of an ephemeral one), not in `avoiding`.
    static func freePort(avoiding: Set<Int>) -> Int? {
        for _ in 0..<32 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { return nil }
            defer { close(fd) }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = 0
            let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard bound == 0 else { return nil }
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            guard withUnsafeMutablePointer(to: &addr, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }) == 0 else { return nil }
            let port = Int(UInt16(bigEndian: addr.sin_port))
            if !avoiding.contains(port) { return port }
        }
        return nil
    }

    /// Where the replicas of a service's attempt listen (one URL per pod that was given a port).
    public func endpoints(workload: String, attempt: Int, pods: Int) async -> [String] {
        let dec = JSONDecoder()
        dec.dateDecodingStrategy = .millisecondsSince1970
        return (0..<pods).compactMap { pod in
            let dir = directory(Key(workload: workload, attempt: attempt, pod: pod))
            guard let data = FileManager.default.contents(atPath: dir.launchFile), let launch = try? dec.decode(PodLaunch.self, from: data),
                  let port = launch.environment["PORT"] else { return nil }
            return "http://127.0.0.1:\(port)"
        }
    }

    /// The pod's confinement: in uid mode a user id no other live pod has (derived from the pod's key, then the next free
    /// one); the toolchain it may run; its cgroup, named for the pod, with the pod's memory and CPU.
    func sandboxSpec(_ key: Key, _ dir: PodDirectory, _ launch: PodLaunch) -> SandboxSpec? {
        guard let policy = sandbox else { return nil }
        var uid: UInt32?
        if policy.isolation.mode == .uid {
            let inUse = Set(uids.values)
            var h: UInt32 = 2_166_136_261
            for b in "\(key.workload)/\(key.attempt)/\(key.pod)".utf8 { h = (h ^ UInt32(b)) &* 16_777_619 }
            var candidate = h % SandboxPolicy.uidRange
            while inUse.contains(policy.firstUID + candidate) { candidate = (candidate + 1) % SandboxPolicy.uidRange }
            uid = policy.firstUID + candidate
            uids[key] = uid
        }
        let cgroup = policy.cgroups?.pod("\(key.workload)-\(key.attempt)-\(key.pod)", memoryMax: launch.memoryLimitBytes, cpuMilli: launch.cpuMilli)
        return SandboxSpec(mode: policy.isolation.mode, landlockABI: policy.isolation.landlockABI, uid: uid, gid: uid, box: dir.box,
                           dataDirectory: policy.dataDirectory, hidden: policy.hidden,
                           serverHome: policy.isolation.mode == .uid ? policy.home : nil, toolchain: policy.toolchain, cgroup: cgroup)
    }

    /// Starts a supervisor in its own session, so that neither a terminal's Ctrl-C nor the control plane's exit reaches it.
    /// A detached task waits for it (reaping it); the pod's end is read from its directory, whoever started it.
    func spawn(_ dir: PodDirectory) throws {
        var options = PlatformOptions()
        options.createSession = true
        let supervisor = self.supervisor
        let log = open(dir.path + "/supervisor.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard log >= 0 else { throw POSIXError(.EACCES) }
        let fd = FileDescriptor(rawValue: log)
        // The supervisor does not inherit the control plane's environment either.
        var env: [Environment.Key: String] = [:]
        for (k, v) in PodSupervisor.scrubbedEnvironment() { env[Environment.Key(stringLiteral: k)] = v }
        Task.detached {
            _ = try? await Subprocess.run(.path(FilePath(supervisor)), arguments: ["pod-supervisor", dir.path],
                                          environment: .custom(env), platformOptions: options,
                                          input: .none, output: .fileDescriptor(fd, closeAfterSpawningProcess: true), error: .discarded)
        }
    }

    public func stop(workload: String, attempt: Int) async {
        var pod = 0
        while true {
            let dir = directory(Key(workload: workload, attempt: attempt, pod: pod))
            guard FileManager.default.fileExists(atPath: dir.path) else { break }
            dir.requestStop()
            if dir.supervisorAlive, let pid = dir.supervisorPID { kill(pid, SIGTERM) }
            pod += 1
        }
    }

    public func poll() async -> [PodExit] {
        var out: [PodExit] = []
        for (key, since) in tracked {
            let dir = directory(key)
            if let s = dir.readStatus() {
                out.append(exit(key, s, dir))
                tracked[key] = nil
                uids[key] = nil
                ports[key] = nil
            } else if clock.since(since) > .seconds(5), !dir.supervisorAlive, !dir.hasStatus {
                out.append(PodExit(workload: key.workload, attempt: key.attempt, pod: key.pod, reason: .lost, lastLines: dir.lastLines(),
                                   detail: "its supervisor exited without writing a status"))
                tracked[key] = nil
                uids[key] = nil
                ports[key] = nil
            }
        }
        return out
    }

    public func recover(workload: String, attempt: Int, pods: Int) async -> [PodRecovery] {
        (0..<pods).map { pod in
            let key = Key(workload: workload, attempt: attempt, pod: pod)
            let dir = directory(key)
            if !dir.exists { return .notStarted }
            if let s = dir.readStatus() { return .finished(exit(key, s, dir)) }
            if dir.supervisorAlive {
                tracked[key] = clock.elapsed
                if let uid = dir.readSandbox()?.uid { uids[key] = uid }
                return .running
            }
            // A supervisor that never got going (no pid written) was killed with the control plane mid-launch: start it.
            if !dir.wasStarted { return .notStarted }
            return .finished(PodExit(workload: workload, attempt: attempt, pod: pod, reason: .lost, lastLines: dir.lastLines(),
                                     detail: "its supervisor is gone and left no exit status"))
        }
    }

    /// The pod's ending as its supervisor recorded it: how, and when it started (its pid written) and ended, so a pod
    /// that ended while the control plane was down is billed for the time it ran, not until the control plane came back.
    func exit(_ key: Key, _ s: ExitStatus, _ dir: PodDirectory) -> PodExit {
        var e = PodExit(workload: key.workload, attempt: key.attempt, pod: key.pod, reason: s.reason, exitCode: s.exitCode, signal: s.signal,
                        peakMemoryBytes: s.peakMemoryBytes, memoryLimitBytes: s.memoryLimitBytes, lastLines: dir.lastLines())
        e.startedAt = dir.startedAt
        e.finishedAt = s.finishedAt
        return e
    }

    /// Wakes when the pod writes (the kernel tells), not on a timer.
    public nonisolated func waitForLog(workload: String, attempt: Int, pod: Int, beyond offset: Int64, timeout: Duration) async {
        await FileGrowth.wait(directory(Key(workload: workload, attempt: attempt, pod: pod)).logFile, beyond: offset, timeout: timeout)
    }

    public func readLog(workload: String, attempt: Int, pod: Int, from offset: Int64, max: Int) async throws -> LogChunk {
        let dir = directory(Key(workload: workload, attempt: attempt, pod: pod))
        guard let h = FileHandle(forReadingAtPath: dir.logFile) else { return LogChunk(data: Data(), nextOffset: offset) }
        defer { try? h.close() }
        try h.seek(toOffset: UInt64(Swift.max(0, offset)))
        let data = try h.read(upToCount: max) ?? Data()
        return LogChunk(data: data, nextOffset: offset + Int64(data.count))
    }
}

/// A pod's working directory is not on this machine (its archive was removed from the data directory).
struct WorkdirMissing: Error, CustomStringConvertible {
    var digest: String
    var description: String { "its working directory \(digest) is not in the data directory any more; submit it again" }
}
