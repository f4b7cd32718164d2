import TarmacCore
import Dispatch
import Crypto
import Foundation
import TarmacDelivery
import Subprocess
import SystemPackage
import Synchronization
import TarmacWorkdir

#if canImport(Glibc)
import Glibc
#endif

/// The supervisor of one pod (`tarmac pod-supervisor DIR`), a process of its own so that pods outlive a control-plane
/// crash or restart. It holds the pod directory's lock for its whole life, runs the command in a new process group with
/// the pod's environment, working directory and log file, enforces the memory limit by watching the group's resident
/// memory, enforces the deadline, turns SIGTERM into a graceful stop of the group (SIGKILL after the grace period), and
/// writes how the pod ended to `status.json` before it exits.
public enum PodSupervisor {
    /// How often memory, deadline and stop requests are checked.
    static let interval: Duration = .milliseconds(50)
    /// The supervisor's own process reads the machine's clocks here.
    static let clock = SystemClock()

    public static func run(directory: String) async -> Int32 {
        let dir = PodDirectory(path: directory)
        let lock = open(dir.lockFile, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0, flock(lock, LOCK_EX) == 0 else {
            FileHandle.standardError.write(Data("pod-supervisor: cannot lock \(dir.lockFile)\n".utf8))
            return 2
        }
        if dir.hasStatus { return 0 }
        try? PodDirectory.writeAtomically(Data("\(getpid())\n".utf8), to: dir.pidFile)
        guard let data = FileManager.default.contents(atPath: dir.launchFile),
              let launch = try? decoder.decode(PodLaunch.self, from: data) else {
            write(ExitStatus(reason: .launchFailed, exitCode: nil, signal: nil, peakMemoryBytes: 0, memoryLimitBytes: 0, finishedAt: clock.now), dir)
            return 2
        }
        // Asked to stop before it could be signalled: it never starts.
        if dir.stopRequested {
            write(ExitStatus(reason: .stopped, exitCode: nil, signal: nil, peakMemoryBytes: 0, memoryLimitBytes: launch.memoryLimitBytes, finishedAt: clock.now), dir)
            return 0
        }
        let stop = StopRequest()
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
        source.setEventHandler { stop.request() }
        source.resume()

        let sandbox = dir.readSandbox()
        do {
            try sandbox?.cgroup?.create()
        } catch {
            let line = "tarmac: the pod's cgroup could not be made: \(error)\n"
            appendToLog(dir, line)
            write(ExitStatus(reason: .launchFailed, exitCode: nil, signal: nil, peakMemoryBytes: 0, memoryLimitBytes: launch.memoryLimitBytes, finishedAt: clock.now), dir)
            return 2
        }
        defer { sandbox?.cgroup?.destroy() }
        do {
            try prepareBox(dir, sandbox)
            try unpackWorkdir(launch, into: dir.workDirectory, sandbox)
            try writeIdentityBootstrap(launch, dir, sandbox)
            try mountModel(launch, into: dir.workDirectory + "/model", sandbox)
        } catch let m as ModelMismatch {
            // The files are not the registered ones: the model server is never started.
            appendToLog(dir, "tarmac: model \(m.reference) tampered: \(m.problems.prefix(5).joined(separator: "; "))\(m.problems.count > 5 ? "; …" : "") (registered manifest \(m.manifest))\n")
            write(ExitStatus(reason: .modelTampered, exitCode: nil, signal: nil, peakMemoryBytes: 0, memoryLimitBytes: launch.memoryLimitBytes, finishedAt: clock.now), dir)
            return 2
        } catch {
            FileHandle.standardError.write(Data("pod-supervisor: cannot prepare \(dir.box): \(error)\n".utf8))
            write(ExitStatus(reason: .launchFailed, exitCode: nil, signal: nil, peakMemoryBytes: 0, memoryLimitBytes: launch.memoryLimitBytes, finishedAt: clock.now), dir)
            return 2
        }
        let log = open(dir.logFile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        var status = ExitStatus(reason: .exited, exitCode: 0, signal: nil, peakMemoryBytes: 0, memoryLimitBytes: launch.memoryLimitBytes, finishedAt: clock.now)
        let runs: [Int?] = launch.completionIndices.isEmpty ? [nil] : launch.completionIndices.map { $0 }
        for index in runs {
            var env = launch.environment
            if launch.identityBootstrap != nil { env["TARMAC_IDENTITY_BOOTSTRAP_FILE"] = identityBootstrapFile(dir) }
            if let index { env["JOB_COMPLETION_INDEX"] = String(index) }
            if stop.requested || dir.stopRequested {
                status.reason = .stopped
                status.exitCode = nil
                break
            }
            let one = await runOnce(launch, environment: env, log: log, directory: dir, sandbox: sandbox, stop: stop)
            status.peakMemoryBytes = max(status.peakMemoryBytes, one.peakMemoryBytes)
            if let cg = sandbox?.cgroup {
                let u = cg.usage()
                status.peakMemoryBytes = max(status.peakMemoryBytes, u.peakBytes)
                status.cpuMicros = u.cpuMicros
                status.throttledMicros = u.throttledMicros
                status.pidsRefused = u.pidsRefused
                status.kernelLimits = true
            }
            status.reason = one.reason
            status.exitCode = one.exitCode
            status.signal = one.signal
            if one.reason != .exited || one.exitCode != 0 { break }
        }
        status.finishedAt = clock.now
        close(log)
        write(status, dir)
        return 0
    }

    static func runOnce(_ launch: PodLaunch, environment: [String: String], log: Int32, directory: PodDirectory, sandbox: SandboxSpec?,
                        stop: StopRequest) async -> ExitStatus {
        guard let executable = launch.command.first else {
            return ExitStatus(reason: .launchFailed, exitCode: nil, signal: nil, peakMemoryBytes: 0, memoryLimitBytes: launch.memoryLimitBytes, finishedAt: clock.now)
        }
        var env: [Environment.Key: String] = [:]
        let base = podEnvironment(directory, sandbox)
        for (k, v) in base { env[Environment.Key(stringLiteral: k)] = v }
        for (k, v) in environment { env[Environment.Key(stringLiteral: k)] = k == "PATH" ? expandPath(v, base["PATH"] ?? "") : v }
        var options = PlatformOptions()
        options.processGroupID = 0
        let outcome = Outcome()
        // With a sandbox, `tarmac pod-exec` confines the process and executes the command in its place (same pid).
        let (program, arguments): (Executable, [String]) = sandbox == nil
            ? (.name(executable), Array(launch.command.dropFirst()))
            : (.path(FilePath(selfExecutable())), ["pod-exec", directory.sandboxFile, "--"] + launch.command)
        do {
            let result = try await Subprocess.run(
                program, arguments: Arguments(arguments),
                environment: .custom(env),
                workingDirectory: FilePath(directory.workDirectory), platformOptions: options,
                input: .none, output: .fileDescriptor(FileDescriptor(rawValue: log), closeAfterSpawningProcess: false),
                error: .fileDescriptor(FileDescriptor(rawValue: log), closeAfterSpawningProcess: false)
            ) { execution in
                await watch(execution.processIdentifier.value, launch: launch, stop: stop, outcome: outcome, directory: directory, cgroup: sandbox?.cgroup)
            }
            var s = ExitStatus(reason: outcome.reason, exitCode: nil, signal: nil, peakMemoryBytes: outcome.peak, memoryLimitBytes: launch.memoryLimitBytes, finishedAt: clock.now)
            switch result.terminationStatus {
            case .exited(let code): s.exitCode = Int(code)
            case .signaled(let sig): s.signal = Int(sig)
            }
            return s
        } catch {
            let line = "tarmac: cannot start \(executable): \(error)\n"
            _ = line.withCString { Glibc.write(log, $0, strlen($0)) }
            return ExitStatus(reason: .exited, exitCode: 127, signal: nil, peakMemoryBytes: 0, memoryLimitBytes: launch.memoryLimitBytes, finishedAt: clock.now)
        }
    }

    /// Watches the pod's process group until its leader exits: memory over the limit is killed at once (out of memory),
    /// the deadline and stop requests get SIGTERM and, after the grace period, SIGKILL.
    /// With a cgroup the kernel enforces memory: an OOM kill it counted ends the pod (all of it) as out of memory.
    static func watch(_ pid: pid_t, launch: PodLaunch, stop: StopRequest, outcome: Outcome, directory: PodDirectory, cgroup: PodCgroup?) async {
        var terminatedAt: Duration?
        while ProcessTable.isRunning(pid) {
            if !stop.requested, directory.stopRequested { stop.request() }
            if let cgroup {
                let u = cgroup.usage()
                outcome.peak = max(outcome.peak, u.peakBytes, u.memoryBytes)
                if u.oomKills > 0, outcome.reason != .outOfMemory {
                    outcome.reason = .outOfMemory
                    kill(-pid, SIGKILL)
                }
            } else {
                let rss = ProcessTable.residentBytes(processGroup: pid)
                outcome.peak = max(outcome.peak, rss)
                if rss > launch.memoryLimitBytes, outcome.reason != .outOfMemory {
                    outcome.reason = .outOfMemory
                    kill(-pid, SIGKILL)
                }
            }
            if terminatedAt == nil, outcome.reason == .exited {
                if stop.requested {
                    outcome.reason = .stopped
                } else if let d = launch.deadline, clock.now >= d {
                    outcome.reason = .deadline
                }
                if outcome.reason != .exited {
                    kill(-pid, SIGTERM)
                    terminatedAt = clock.elapsed
                }
            }
            if let t = terminatedAt, clock.since(t) > .milliseconds(Int64(launch.graceSeconds * 1000)) {
                kill(-pid, SIGKILL)
            }
            try? await Task.sleep(for: interval)
        }
        // Whatever the leader left behind in its group goes with it.
        kill(-pid, SIGKILL)
        // The kernel may count an OOM kill of the leader only as it reaps it.
        if let cgroup, outcome.reason == .exited, cgroup.usage().oomKills > 0 { outcome.reason = .outOfMemory }
    }

    /// What every pod starts from: the PATH and locale of the machine, and a HOME and TMPDIR of its own in its sandbox.
    /// Nothing else of the control plane's environment (its secrets, its HOME, its credentials file) reaches a pod.
    /// With a toolchain, its `PATH` (only directories the pod can use) and the variables of the exposed interpreters.
    static func podEnvironment(_ dir: PodDirectory, _ sandbox: SandboxSpec? = nil) -> [String: String] {
        var env = scrubbedEnvironment()
        if let t = sandbox?.toolchain {
            env["PATH"] = t.path.joined(separator: ":")
            for (k, v) in t.environment { env[k] = v }
        }
        env["HOME"] = dir.box + "/home"
        env["TMPDIR"] = dir.box + "/tmp"
        return env
    }

    /// A workload's own `PATH` may extend the pod's: `$PATH`, `${PATH}` and `$(PATH)` stand for it.
    static func expandPath(_ value: String, _ base: String) -> String {
        value.replacingOccurrences(of: "$(PATH)", with: base).replacingOccurrences(of: "${PATH}", with: base)
            .replacingOccurrences(of: "$PATH", with: base)
    }

    static func appendToLog(_ dir: PodDirectory, _ line: String) {
        let fd = open(dir.logFile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        _ = line.withCString { Glibc.write(fd, $0, strlen($0)) }
        close(fd)
    }

    /// The variables a supervisor or a pod may inherit from the control plane: where programs are and how text is shown.
    public static func scrubbedEnvironment() -> [String: String] {
        var env: [String: String] = [:]
        let inherited = ProcessInfo.processInfo.environment
        for k in ["PATH", "LANG", "LC_ALL", "TZ"] { if let v = inherited[k] { env[k] = v } }
        if env["PATH"] == nil { env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" }
        return env
    }

    /// The pod's sandbox directories, owned by the pod's user in uid mode, mode 0700.
    static func prepareBox(_ dir: PodDirectory, _ sandbox: SandboxSpec?) throws {
        let fm = FileManager.default
        for d in [dir.box, dir.box + "/work", dir.box + "/home", dir.box + "/tmp"] {
            try fm.createDirectory(atPath: d, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            if let uid = sandbox?.uid, let gid = sandbox?.gid {
                guard chown(d, uid, gid) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EPERM) }
            }
            guard chmod(d, 0o700) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EPERM) }
        }
    }

    static func identityBootstrapFile(_ dir: PodDirectory) -> String { dir.box + "/identity/bootstrap" }

    /// The pod's one-time identity credential, in a file only the pod's user can read (0600 in a 0700 directory).
    static func writeIdentityBootstrap(_ launch: PodLaunch, _ dir: PodDirectory, _ sandbox: SandboxSpec?) throws {
        guard let secret = launch.identityBootstrap else { return }
        let d = dir.box + "/identity"
        let file = identityBootstrapFile(dir)
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer { close(fd) }
        let bytes = Array(secret.utf8)
        guard Glibc.write(fd, bytes, bytes.count) == bytes.count, fchmod(fd, 0o600) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        if let uid = sandbox?.uid, let gid = sandbox?.gid {
            guard chown(d, uid, gid) == 0, fchown(fd, uid, gid) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EPERM) }
        }
    }

    /// Each pod starts in a copy of its working directory, owned by the pod's user.
    static func unpackWorkdir(_ launch: PodLaunch, into work: String, _ sandbox: SandboxSpec?) throws {
        guard let archive = launch.workdirArchive else { return }
        guard let data = FileManager.default.contents(atPath: archive) else { throw POSIXError(.ENOENT) }
        let entries = try TarArchive.read(data, limit: Int.max)
        try TarArchive.extract(entries, into: work, owner: sandbox?.uid.flatMap { uid in sandbox?.gid.map { (uid, $0) } })
    }

    struct ModelMismatch: Error {
        var reference: String
        var manifest: String
        var problems: [String]
    }

    /// Lays a registered model's files out for the pod, each copied from where Tarmac keeps it and hashed as it is
    /// copied: a file whose bytes are not the registered ones (changed on disk since registration) or that is missing
    /// stops the pod before its command runs.
    static func mountModel(_ launch: PodLaunch, into target: String, _ sandbox: SandboxSpec?) throws {
        guard let m = launch.model, let kept = m.keptFiles else { return }
        let store = try ModelArtifacts(root: kept)
        var problems: [String] = []
        for f in m.files {
            guard let source = store.path(f.sha256), FileManager.default.fileExists(atPath: source) else {
                problems.append("\(f.path): missing (sha256 \(f.sha256.prefix(12))… is not kept)")
                continue
            }
            let dest = target + "/" + f.path
            try FileManager.default.createDirectory(atPath: (dest as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let got = try copyHashing(source, to: dest)
            if got.sha256 != f.sha256 || got.size != f.size {
                problems.append("\(f.path): sha256 \(got.sha256.prefix(12))… (\(got.size) bytes), registered \(f.sha256.prefix(12))… (\(f.size) bytes)")
            }
            if let uid = sandbox?.uid, let gid = sandbox?.gid { _ = chown(dest, uid, gid) }
        }
        if let uid = sandbox?.uid, let gid = sandbox?.gid { _ = chown(target, uid, gid) }
        guard problems.isEmpty else { throw ModelMismatch(reference: m.reference, manifest: m.manifestDigest, problems: problems) }
    }

    static func copyHashing(_ source: String, to dest: String) throws -> (sha256: String, size: Int64) {
        guard let input = FileHandle(forReadingAtPath: source) else { throw POSIXError(.EACCES) }
        defer { try? input.close() }
        guard FileManager.default.createFile(atPath: dest, contents: nil, attributes: [.posixPermissions: 0o644]),
              let output = FileHandle(forWritingAtPath: dest) else { throw POSIXError(.EACCES) }
        defer { try? output.close() }
        var hasher = SHA256()
        var size: Int64 = 0
        while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
            try output.write(contentsOf: chunk)
            size += Int64(chunk.count)
        }
        return (hasher.finalize().map { String(format: "%02x", $0) }.joined(), size)
    }

    static func selfExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    static func write(_ s: ExitStatus, _ dir: PodDirectory) {
        let enc = JSONEncoder()
        enc.dateEncodingStrategy = .millisecondsSince1970
        if let d = try? enc.encode(s) { try? PodDirectory.writeAtomically(d, to: dir.statusFile) }
    }

    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .millisecondsSince1970
        return d
    }()
}

/// Set from the SIGTERM handler, read by the watcher.
final class StopRequest: Sendable {
    private let flag = Atomic<Bool>(false)
    func request() { flag.store(true, ordering: .relaxed) }
    var requested: Bool { flag.load(ordering: .relaxed) }
}

/// What the watcher saw (written only by the watcher, read after it returns).
final class Outcome: @unchecked Sendable {
    var reason: PodExit.Reason = .exited
    var peak: Int64 = 0
}
