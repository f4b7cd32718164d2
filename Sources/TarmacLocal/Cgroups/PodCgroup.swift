import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One pod's cgroup: made by its supervisor with the pod's limits, joined by `tarmac pod-exec` before the command runs
/// (so every process of the pod is in it), read while the pod runs and removed when it ends.
public struct PodCgroup: Codable, Sendable, Hashable {
    public var version: CgroupSetup.Version
    /// The pod's directory per controller (v2: one, under `unified`).
    public var directories: [String: String]
    public var memoryMax: Int64
    /// CPUs in thousandths (`cpu.max`); nil: no CPU limit.
    public var cpuMilli: Int?
    public var pidsMax: Int

    /// The CFS period the CPU quota is given over.
    static let period = 100_000

    /// Makes the directories and writes the limits. Swap is not allowed to stretch memory past `memoryMax`.
    public func create() throws {
        for dir in Set(directories.values) {
            if mkdir(dir, 0o755) != 0 && errno != EEXIST { throw CgroupError("mkdir \(dir)", errno) }
        }
        switch version {
        case .v2:
            let d = try dir("unified")
            try set(d + "/memory.max", String(memoryMax))
            if FileManager.default.fileExists(atPath: d + "/memory.swap.max") { try set(d + "/memory.swap.max", "0") }
            // The whole pod goes when the kernel kills for memory, as when the supervisor did.
            if FileManager.default.fileExists(atPath: d + "/memory.oom.group") { try set(d + "/memory.oom.group", "1") }
            if let cpuMilli { try set(d + "/cpu.max", "\(cpuMilli * Self.period / 1000) \(Self.period)") }
            try set(d + "/pids.max", String(pidsMax))
        case .v1:
            let m = try dir("memory")
            try set(m + "/memory.limit_in_bytes", String(memoryMax))
            if FileManager.default.fileExists(atPath: m + "/memory.memsw.limit_in_bytes") { try set(m + "/memory.memsw.limit_in_bytes", String(memoryMax)) }
            if let c = directories["cpu"], let cpuMilli {
                try set(c + "/cpu.cfs_period_us", String(Self.period))
                try set(c + "/cpu.cfs_quota_us", String(cpuMilli * Self.period / 1000))
            }
            if let p = directories["pids"] { try set(p + "/pids.max", String(pidsMax)) }
        }
    }

    /// Moves a process (and what it starts later) into the pod's cgroup.
    public func join(_ pid: pid_t) throws {
        for dir in Set(directories.values) {
            guard CgroupFile.write(dir + "/cgroup.procs", String(pid)) else { throw CgroupError("joining \(dir)", errno) }
        }
    }

    /// What the kernel counted for the pod.
    public struct Usage: Sendable, Hashable {
        /// Times the OOM killer killed a process of the pod.
        public var oomKills: Int64 = 0
        public var memoryBytes: Int64 = 0
        /// The most memory the pod held at once (0 when the kernel does not say).
        public var peakBytes: Int64 = 0
        public var cpuMicros: Int64?
        public var throttledMicros: Int64?
        /// Times a fork or clone failed at `pids.max`.
        public var pidsRefused: Int64 = 0
    }

    public func usage() -> Usage {
        var u = Usage()
        switch version {
        case .v2:
            guard let d = directories["unified"] else { return u }
            u.oomKills = CgroupFile.keyed(d + "/memory.events")["oom_kill"] ?? 0
            u.memoryBytes = CgroupFile.number(d + "/memory.current") ?? 0
            u.peakBytes = CgroupFile.number(d + "/memory.peak") ?? 0
            let cpu = CgroupFile.keyed(d + "/cpu.stat")
            u.cpuMicros = cpu["usage_usec"]
            u.throttledMicros = cpu["throttled_usec"]
            u.pidsRefused = CgroupFile.keyed(d + "/pids.events")["max"] ?? 0
        case .v1:
            if let m = directories["memory"] {
                u.oomKills = CgroupFile.keyed(m + "/memory.oom_control")["oom_kill"] ?? 0
                u.memoryBytes = CgroupFile.number(m + "/memory.usage_in_bytes") ?? 0
                u.peakBytes = CgroupFile.number(m + "/memory.max_usage_in_bytes") ?? 0
                // Before oom_kill was counted (Linux 4.13), a hit limit shows as failcnt with the pod killed.
                if u.oomKills == 0, CgroupFile.keyed(m + "/memory.oom_control")["under_oom"] == 1 { u.oomKills = 1 }
            }
            if let a = directories["cpuacct"] ?? directories["cpu"], let ns = CgroupFile.number(a + "/cpuacct.usage") { u.cpuMicros = ns / 1000 }
            if let c = directories["cpu"], let t = CgroupFile.keyed(c + "/cpu.stat")["throttled_time"] { u.throttledMicros = t / 1000 }
            if let p = directories["pids"] { u.pidsRefused = CgroupFile.keyed(p + "/pids.events")["max"] ?? 0 }
        }
        return u
    }

    /// The pids in the pod's cgroup.
    public func processes() -> [pid_t] {
        guard let d = directories["unified"] ?? directories["memory"] else { return [] }
        return (CgroupFile.read(d + "/cgroup.procs") ?? "").split(separator: "\n").compactMap { pid_t($0) }
    }

    /// Kills every process of the pod (`cgroup.kill` where the kernel has it) and removes its directories once empty.
    public func destroy() {
        for _ in 0..<100 {
            let left = processes()
            if left.isEmpty { break }
            if let d = directories["unified"], FileManager.default.fileExists(atPath: d + "/cgroup.kill") {
                CgroupFile.write(d + "/cgroup.kill", "1")
            } else {
                for p in left { kill(p, SIGKILL) }
            }
            usleep(10_000)
        }
        for dir in Set(directories.values) {
            for _ in 0..<50 {
                if rmdir(dir) == 0 || errno == ENOENT { break }
                usleep(10_000)
            }
        }
    }

    func dir(_ controller: String) throws -> String {
        guard let d = directories[controller] else { throw CgroupError("no \(controller) cgroup") }
        return d
    }

    func set(_ path: String, _ value: String) throws {
        guard CgroupFile.write(path, value) else { throw CgroupError("writing \(value) to \(path)", errno) }
    }
}

public struct CgroupError: Error, CustomStringConvertible {
    public var description: String
    init(_ step: String, _ code: Int32) { description = "\(step): \(String(cString: strerror(code)))" }
    init(_ message: String) { description = message }
}
