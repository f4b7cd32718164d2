import TarmacCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where one pod of one attempt lives on disk: `<data>/pods/<workload>/<attempt>/<pod>/`, holding its launch spec and
/// sandbox spec, the supervisor's lock and pid, the exit status, the log (all readable by the control plane's user
/// only) and the pod's sandbox `box/` (its working directory, HOME and TMPDIR, owned by the pod's user). The directory is the pod's durable state:
/// a restarted control plane learns from it whether the pod never started, still runs, ended, or was lost.
public struct PodDirectory: Sendable, Hashable {
    public let path: String

    public init(root: String, workload: String, attempt: Int, pod: Int) {
        path = "\(root)/\(workload)/\(attempt)/\(pod)"
    }

    public init(path: String) { self.path = path }

    public var launchFile: String { path + "/launch.json" }
    public var lockFile: String { path + "/supervisor.lock" }
    public var pidFile: String { path + "/supervisor.pid" }
    public var statusFile: String { path + "/status.json" }
    /// Present once the pod was asked to stop: its supervisor reads it at start and while the pod runs, so a stop that
    /// arrives before the supervisor can be signalled (it has not written its pid yet) is not lost.
    public var stopFile: String { path + "/stop" }

    public var stopRequested: Bool { FileManager.default.fileExists(atPath: stopFile) }

    public func requestStop() { _ = FileManager.default.createFile(atPath: stopFile, contents: nil) }
    public var logFile: String { path + "/output.log" }
    /// How the pod is confined (`SandboxSpec`); absent for pods launched before sandboxes existed.
    public var sandboxFile: String { path + "/sandbox.json" }
    /// The pod's sandbox: its working directory (`work`), HOME (`home`) and TMPDIR (`tmp`).
    public var box: String { path + "/box" }
    public var workDirectory: String { box + "/work" }

    public func readSandbox() -> SandboxSpec? {
        FileManager.default.contents(atPath: sandboxFile).flatMap { try? JSONDecoder().decode(SandboxSpec.self, from: $0) }
    }

    public var exists: Bool { FileManager.default.fileExists(atPath: launchFile) }
    public var hasStatus: Bool { FileManager.default.fileExists(atPath: statusFile) }
    public var wasStarted: Bool { FileManager.default.fileExists(atPath: pidFile) }
    /// When its supervisor started the pod (it wrote its pid then).
    public var startedAt: Date? { (try? FileManager.default.attributesOfItem(atPath: pidFile))?[.modificationDate] as? Date }

    /// Whether a supervisor holds the lock now (it holds it for its whole life; the kernel drops it when it dies, whatever
    /// the cause, so there is no stale pid to trust).
    public var supervisorAlive: Bool {
        let fd = open(lockFile, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return true
    }

    public var supervisorPID: pid_t? {
        (try? String(contentsOfFile: pidFile, encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    public func readStatus() -> ExitStatus? {
        guard let d = FileManager.default.contents(atPath: statusFile) else { return nil }
        let dec = JSONDecoder()
        dec.dateDecodingStrategy = .millisecondsSince1970
        return try? dec.decode(ExitStatus.self, from: d)
    }

    /// The last `count` lines of the log.
    public func lastLines(_ count: Int = 20) -> [String] {
        guard let h = FileHandle(forReadingAtPath: logFile) else { return [] }
        defer { try? h.close() }
        let end = (try? h.seekToEnd()) ?? 0
        let start = end > 8192 ? end - 8192 : 0
        try? h.seek(toOffset: start)
        let text = String(decoding: h.readDataToEndOfFile(), as: UTF8.self)
        return Array(text.split(separator: "\n", omittingEmptySubsequences: true).suffix(count).map(String.init))
    }

    /// Writes a file atomically (temporary file, then rename).
    static func writeAtomically(_ data: Data, to path: String) throws {
        let tmp = path + ".tmp"
        try data.write(to: URL(fileURLWithPath: tmp))
        guard rename(tmp, path) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }
}

/// How a supervised pod ended, as its supervisor wrote it.
public struct ExitStatus: Codable, Sendable, Hashable {
    public var reason: PodExit.Reason
    public var exitCode: Int?
    public var signal: Int?
    public var peakMemoryBytes: Int64
    public var memoryLimitBytes: Int64
    public var finishedAt: Date
    /// What the pod's cgroup counted (absent without one): CPU time used and throttled, forks refused at `pids.max`.
    public var cpuMicros: Int64?
    public var throttledMicros: Int64?
    public var pidsRefused: Int64?
    /// Whether the kernel enforced the pod's limits (a cgroup), or the supervisor watched its memory.
    public var kernelLimits: Bool?

    public init(reason: PodExit.Reason, exitCode: Int?, signal: Int?, peakMemoryBytes: Int64, memoryLimitBytes: Int64, finishedAt: Date) {
        self.reason = reason
        self.exitCode = exitCode
        self.signal = signal
        self.peakMemoryBytes = peakMemoryBytes
        self.memoryLimitBytes = memoryLimitBytes
        self.finishedAt = finishedAt
    }
}
