import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// How one pod is confined, written by the local backend beside the pod's launch spec (`sandbox.json`, readable by the
/// control plane's user only) and applied by `tarmac pod-exec` just before it executes the pod's command.
public struct SandboxSpec: Codable, Sendable, Hashable {
    public var mode: Isolation.Mode
    public var landlockABI: Int
    /// The pod's own user and group (uid mode).
    public var uid: UInt32?
    public var gid: UInt32?
    /// The pod's sandbox: `work` (its working directory), `home` (its HOME) and `tmp` (its TMPDIR).
    public var box: String
    /// The control plane's data directory: an empty tmpfs in the pod's mount namespace (uid mode), unreadable under Landlock.
    public var dataDirectory: String
    /// Other paths the pod must not read: the credentials file, the audit anchor file, the server's home (Landlock mode).
    public var hidden: [String]
    /// The server's home: an empty tmpfs in the pod's mount namespace (uid mode) with only the toolchain's trees bound in.
    public var serverHome: String?
    /// The programs the pod may run (absent in specs written before toolchains were exposed).
    public var toolchain: PodToolchain?
    /// The pod's cgroup, when the machine has them (absent: no kernel limits, the supervisor watches memory).
    public var cgroup: PodCgroup?

    public init(mode: Isolation.Mode, landlockABI: Int, uid: UInt32?, gid: UInt32?, box: String, dataDirectory: String, hidden: [String],
                serverHome: String? = nil, toolchain: PodToolchain? = nil, cgroup: PodCgroup? = nil) {
        self.mode = mode
        self.landlockABI = landlockABI
        self.uid = uid
        self.gid = gid
        self.box = box
        self.dataDirectory = dataDirectory
        self.hidden = hidden
        self.serverHome = serverHome
        self.toolchain = toolchain
        self.cgroup = cgroup
    }

    public var work: String { box + "/work" }
    public var home: String { box + "/home" }
    public var tmp: String { box + "/tmp" }
}

/// What the local backend needs to confine its pods.
public struct SandboxPolicy: Sendable, Hashable {
    public var isolation: Isolation
    /// The data directory (absolute, symlinks resolved).
    public var dataDirectory: String
    /// Other paths pods must not read (absolute).
    public var hidden: [String]
    /// The first user id given to pods (uid mode); pods get ids from `firstUID` up, one each.
    public var firstUID: UInt32
    /// The server's home (hidden, but for the toolchain's trees).
    public var home: String?
    /// What pods may run, and the `PATH` and variables they get.
    public var toolchain: PodToolchain?
    /// Where pods' cgroups are made, when the machine allows them.
    public var cgroups: CgroupSetup?

    public init(isolation: Isolation, dataDirectory: String, hidden: [String], firstUID: UInt32 = 0x6000_0000, home: String? = nil,
                toolchain: PodToolchain? = nil, cgroups: CgroupSetup? = nil) {
        self.isolation = isolation
        self.dataDirectory = dataDirectory
        self.hidden = hidden
        self.firstUID = firstUID
        self.home = home
        self.toolchain = toolchain
        self.cgroups = cgroups
    }

    /// How many user ids pods may use, from `firstUID` on.
    public static let uidRange: UInt32 = 1 << 20

    /// A path with symlinks resolved, as far as it exists (a file not yet written keeps its name under its resolved
    /// folder): hidden paths and the data directory are compared as the kernel sees them.
    public static func realPath(_ p: String) -> String {
        if let r = realpath(p, nil) {
            defer { free(r) }
            return String(cString: r)
        }
        let url = URL(fileURLWithPath: p)
        let parent = url.deletingLastPathComponent().path
        guard parent != p, parent != "/" else { return p }
        return realPath(parent) + "/" + url.lastPathComponent
    }
}
