import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where local pods' cgroups are made on this machine, as `tarmac up` found and prepared it: the kernel then enforces a
/// pod's memory (`memory.max`, the OOM killer counting in `memory.events`), its CPU (`cpu.max`) and its number of tasks
/// (`pids.max`, against fork bombs).
///
/// cgroup v2 is used where its memory controller is available to us: as root, a `tarmac.pods` cgroup under the
/// hierarchy's root; as an ordinary user, a subtree delegated by systemd (`systemd-run --user -p Delegate=yes --scope
/// tarmac up`), the server moving itself into a leaf of it so that its controllers can be given to the pods. On a
/// machine that still mounts the memory controller in a v1 hierarchy (hybrid layouts), the v1 controllers are used the
/// same way, nested under the server's own cgroups.
public struct CgroupSetup: Codable, Sendable, Hashable {
    public enum Version: String, Codable, Sendable { case v2, v1 }

    public var version: Version
    /// The directory under which each pod's cgroup is made, per controller (v2: one, under the key `unified`).
    public var parents: [String: String]
    /// The most tasks (processes and threads) one pod may have.
    public var pidsMax: Int

    public init(version: Version, parents: [String: String], pidsMax: Int) {
        self.version = version
        self.parents = parents
        self.pidsMax = pidsMax
    }

    /// The controllers limits are set with (`memory` always; `cpu` and `pids` when the machine has them).
    public var controllers: [String] {
        version == .v2 ? ["memory", "cpu", "pids"] : ["memory", "cpu", "cpuacct", "pids"].filter { parents[$0] != nil }
    }

    /// One line for the banner.
    public var summary: String {
        switch version {
        case .v2:
            return "cgroup v2 per pod (memory.max from its size, cpu.max from its CPUs, pids.max \(pidsMax)) in \(parents["unified"] ?? "?")"
        case .v1:
            let c = ["memory", "cpu", "pids"].filter { parents[$0] != nil }
            let name = parents["memory"].map { "tarmac.pods/" + ($0 as NSString).lastPathComponent } ?? "tarmac.pods"
            return "cgroup v1 per pod (\(c.map { $0 == "pids" ? "pids.max \(pidsMax)" : $0 == "memory" ? "memory from its size" : "cpu from its CPUs" }.joined(separator: ", "))) under \(name) in the \(c.joined(separator: ", ")) hierarchies"
        }
    }

    /// The cgroup of one pod: `parent/NAME` for each controller, with the pod's limits.
    public func pod(_ name: String, memoryMax: Int64, cpuMilli: Int) -> PodCgroup {
        var dirs: [String: String] = [:]
        for (c, p) in parents { dirs[c] = p + "/" + name }
        return PodCgroup(version: version, directories: dirs, memoryMax: memoryMax, cpuMilli: cpuMilli > 0 ? cpuMilli : nil, pidsMax: pidsMax)
    }

    // MARK: finding and preparing

    /// Why cgroups are not used here, for the banner.
    public struct Unavailable: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Finds a cgroup hierarchy this process may make pods' cgroups in and prepares `NAME` in it (one per data
    /// directory, so that two servers never share one).
    public static func prepare(name: String, pidsMax: Int, parent given: String? = nil) -> Result<CgroupSetup, Unavailable> {
        let mounts = CgroupMounts.read()
        if let given { return prepareV2(at: given, name: name, pidsMax: pidsMax, mounts: mounts, delegated: true) }
        if let unified = mounts.unified {
            let own = mounts.ownV2 ?? "/"
            let available = Set(CgroupFile.read(unified + (own == "/" ? "" : own) + "/cgroup.controllers")?.split(separator: " ").map(String.init) ?? [])
            if available.contains("memory") {
                if geteuid() == 0 { return prepareV2(at: unified, name: name, pidsMax: pidsMax, mounts: mounts, delegated: false) }
                return prepareV2(at: unified + own, name: name, pidsMax: pidsMax, mounts: mounts, delegated: true)
            }
        }
        if mounts.v1["memory"] != nil { return prepareV1(name: name, pidsMax: pidsMax, mounts: mounts) }
        return .failure(Unavailable(description: mounts.unified == nil && mounts.v1.isEmpty
            ? "no cgroup file system is mounted"
            : "the memory controller is in no cgroup hierarchy this server can use"))
    }

    static let wanted = ["memory", "cpu", "pids"]

    /// v2: `base` is the hierarchy's root (root user) or the server's own, delegated cgroup (an ordinary user, who must
    /// leave it for a leaf before its controllers can be handed down).
    static func prepareV2(at base: String, name: String, pidsMax: Int, mounts: CgroupMounts, delegated: Bool) -> Result<CgroupSetup, Unavailable> {
        let available = Set(CgroupFile.read(base + "/cgroup.controllers")?.split(separator: " ").map(String.init) ?? [])
        let missing = wanted.filter { !available.contains($0) }
        guard missing.isEmpty else {
            return .failure(Unavailable(description: "cgroup v2 at \(base) does not offer the \(missing.joined(separator: ", ")) controller\(missing.count == 1 ? "" : "s")"))
        }
        let enable = wanted.map { "+" + $0 }.joined(separator: " ")
        if !CgroupFile.write(base + "/cgroup.subtree_control", enable) {
            let e = errno
            guard delegated, e == EBUSY else {
                return .failure(Unavailable(description: "cannot hand controllers down at \(base) (\(String(cString: strerror(e)))); as an ordinary user run tarmac up in a delegated cgroup (systemd-run --user -p Delegate=yes --scope tarmac up)"))
            }
            // Processes in `base` (this server) forbid handing its controllers down: the server moves to a leaf.
            let leaf = base + "/tarmac-server"
            mkdir(leaf, 0o755)
            guard CgroupFile.write(leaf + "/cgroup.procs", String(getpid())), CgroupFile.write(base + "/cgroup.subtree_control", enable) else {
                return .failure(Unavailable(description: "cannot move this server into \(leaf) to hand controllers down (\(String(cString: strerror(errno))))"))
            }
        }
        let parent = base + "/tarmac.pods"
        let dir = parent + "/" + name
        for d in [parent, dir] {
            if mkdir(d, 0o755) != 0 && errno != EEXIST {
                return .failure(Unavailable(description: "cannot make \(d) (\(String(cString: strerror(errno))))"))
            }
            guard CgroupFile.write(d + "/cgroup.subtree_control", enable) else {
                return .failure(Unavailable(description: "cannot hand controllers down at \(d) (\(String(cString: strerror(errno))))"))
            }
        }
        return .success(CgroupSetup(version: .v2, parents: ["unified": dir], pidsMax: pidsMax))
    }

    /// v1: each controller's hierarchy, under the server's own cgroup in it (so the server's limits still hold).
    static func prepareV1(name: String, pidsMax: Int, mounts: CgroupMounts) -> Result<CgroupSetup, Unavailable> {
        var parents: [String: String] = [:]
        for c in ["memory", "cpu", "cpuacct", "pids"] {
            guard let mount = mounts.v1[c] else { continue }
            let own = mounts.ownV1[c] ?? "/"
            let dir = mount + (own == "/" ? "" : own) + "/tarmac.pods/" + name
            guard (try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)) != nil,
                  access(dir + "/cgroup.procs", W_OK) == 0 else {
                if c == "memory" {
                    return .failure(Unavailable(description: "cannot make \(dir) in the v1 memory hierarchy (\(String(cString: strerror(errno))))"))
                }
                continue
            }
            parents[c] = dir
        }
        return .success(CgroupSetup(version: .v1, parents: parents, pidsMax: pidsMax))
    }
}

/// The cgroup file systems this process sees, and its own place in each (`/proc/self/mountinfo`, `/proc/self/cgroup`).
struct CgroupMounts {
    var unified: String?
    var ownV2: String?
    /// v1 mount point by controller (`cpu` and `cpuacct` may share one).
    var v1: [String: String] = [:]
    var ownV1: [String: String] = [:]

    static func read() -> CgroupMounts {
        var m = CgroupMounts()
        for line in (CgroupFile.read("/proc/self/mountinfo") ?? "").split(separator: "\n") {
            // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
            let halves = line.components(separatedBy: " - ")
            guard halves.count == 2 else { continue }
            let left = halves[0].split(separator: " "), right = halves[1].split(separator: " ")
            guard left.count >= 5, right.count >= 3 else { continue }
            let point = String(left[4]).replacingOccurrences(of: "\\040", with: " ")
            if right[0] == "cgroup2" {
                if m.unified == nil { m.unified = point }
            } else if right[0] == "cgroup" {
                for opt in right[2].split(separator: ",") where ["memory", "cpu", "cpuacct", "pids"].contains(String(opt)) {
                    if m.v1[String(opt)] == nil { m.v1[String(opt)] = point }
                }
            }
        }
        for line in (CgroupFile.read("/proc/self/cgroup") ?? "").split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            if parts[0] == "0" && parts[1].isEmpty {
                m.ownV2 = String(parts[2])
            } else {
                for c in parts[1].split(separator: ",") { m.ownV1[String(c)] = String(parts[2]) }
            }
        }
        return m
    }
}

/// Reads and writes of cgroup files (one `write(2)` each, as the kernel expects).
enum CgroupFile {
    static func read(_ path: String) -> String? {
        guard let d = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: d, as: UTF8.self)
    }

    /// Writes `value` with one system call; false (errno set) when the kernel refuses it.
    @discardableResult
    static func write(_ path: String, _ value: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { let e = errno; close(fd); errno = e }
        let bytes = Array(value.utf8)
        return Glibc.write(fd, bytes, bytes.count) == bytes.count
    }

    /// `KEY VALUE` lines (memory.events, cpu.stat, memory.oom_control) as numbers.
    static func keyed(_ path: String) -> [String: Int64] {
        var out: [String: Int64] = [:]
        for line in (read(path) ?? "").split(separator: "\n") {
            let kv = line.split(separator: " ")
            if kv.count == 2, let v = Int64(kv[1]) { out[String(kv[0])] = v }
        }
        return out
    }

    static func number(_ path: String) -> Int64? {
        read(path).flatMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }
}
