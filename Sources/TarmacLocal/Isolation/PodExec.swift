import CTarmacSandbox
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The last step before a pod's command runs (`tarmac pod-exec SANDBOX -- COMMAND...`, started by the pod's supervisor
/// with the pod's environment, working directory, log and process group): it confines the process as `sandbox.json`
/// says and executes the command in its place, so the command's process is this one (same pid, same group).
///
/// Everything happens on one thread, from the set-up to `execvp`: Landlock and the credentials belong to the thread
/// that executes.
public enum PodExec {
    /// Exit statuses of the wrapper itself, written to the pod's log with the reason.
    public static let setupFailed: Int32 = 125

    public static func run(sandbox path: String, command: [String]) -> Int32 {
        guard !command.isEmpty, !command[0].isEmpty else { return fail("tarmac: the pod has no command") }
        let spec: SandboxSpec
        do {
            guard let data = FileManager.default.contents(atPath: path) else { throw PodExecError("cannot read \(path)") }
            spec = try JSONDecoder().decode(SandboxSpec.self, from: data)
            try confine(spec)
        } catch {
            return fail("tarmac: the pod's sandbox could not be set up: \(error)", code: setupFailed)
        }
        umask(0o022)
        return exec(command)
    }

    static func confine(_ s: SandboxSpec) throws {
        switch s.mode {
        case .uid:
            try privateView(s)
            guard chdir(s.work) == 0 else { throw PodExecError("chdir \(s.work)", errno) }
            guard let uid = s.uid, let gid = s.gid else { throw PodExecError("uid mode without a user id") }
            guard tarmac_become(uid, gid) == 0 else { throw PodExecError("becoming user \(uid)", errno) }
            if s.landlockABI > 0 {
                try Landlock.restrict(abi: s.landlockABI, rules: [
                    .init(path: "/", access: .read),
                    .init(path: s.box, access: .readWrite),
                    .init(path: "/tmp", access: .readWrite), .init(path: "/var/tmp", access: .readWrite),
                    .init(path: "/dev/shm", access: .readWrite),
                    .init(path: "/dev", access: [.read, .writeFile, .ioctlDev]),
                ])
            } else {
                guard tarmac_no_new_privs() == 0 else { throw PodExecError("prctl(PR_SET_NO_NEW_PRIVS)", errno) }
            }
        case .landlock:
            guard chdir(s.work) == 0 else { throw PodExecError("chdir \(s.work)", errno) }
            let hidden = s.hidden + [s.dataDirectory]
            let fm = FileManager.default
            let readable = Landlock.readable(roots: ["/"], hidden: hidden, children: { try? fm.contentsOfDirectory(atPath: $0) }, resolve: SandboxPolicy.realPath)
            var rules = readable.map { Landlock.Rule(path: $0, access: .read) }
            rules.append(.init(path: s.box, access: .readWrite))
            rules.append(.init(path: "/dev/shm", access: .readWrite))
            rules.append(.init(path: "/dev", access: [.read, .writeFile, .ioctlDev]))
            try Landlock.restrict(abi: s.landlockABI, rules: rules)
        case .none:
            guard chdir(s.work) == 0 else { throw PodExecError("chdir \(s.work)", errno) }
        }
    }

    /// uid mode: a mount namespace in which the data directory is an empty tmpfs holding only this pod's sandbox (bound
    /// back at the same path), `/tmp`, `/var/tmp` and `/dev/shm` are the pod's own, and `/proc` hides other users' processes.
    static func privateView(_ s: SandboxSpec) throws {
        guard tarmac_private_mounts() == 0 else { throw PodExecError("unshare(CLONE_NEWNS)", errno) }
        let box = tarmac_open_path(s.box, 1)
        guard box >= 0 else { throw PodExecError("open \(s.box)", errno) }
        defer { close(box) }
        let flags = UInt(MS_NOSUID | MS_NODEV)
        let fm = FileManager.default
        for t in ["/tmp", "/var/tmp", "/dev/shm"] where fm.fileExists(atPath: t) {
            guard tarmac_mount("tarmac", t, "tmpfs", flags, "mode=1777") == 0 else { throw PodExecError("mount tmpfs on \(t)", errno) }
        }
        // The data directory may lie under one of those (now empty): make its path again before covering it.
        try fm.createDirectory(atPath: s.dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        guard tarmac_mount("tarmac", s.dataDirectory, "tmpfs", flags, "mode=0755,size=1m") == 0 else { throw PodExecError("mount tmpfs on \(s.dataDirectory)", errno) }
        try fm.createDirectory(atPath: s.box, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        guard tarmac_bind("/proc/self/fd/\(box)", s.box) == 0 else { throw PodExecError("bind \(s.box)", errno) }
        guard tarmac_mount("proc", "/proc", "proc", flags | UInt(MS_NOEXEC), "hidepid=invisible") == 0 else { throw PodExecError("mount /proc", errno) }
    }

    /// Executes the command by PATH (as a shell would: a directory it may not search is skipped). Returns only on failure.
    static func exec(_ command: [String]) -> Int32 {
        var argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) }
        argv.append(nil)
        execvp(command[0], argv)
        let e = errno
        let code: Int32 = (e == EACCES || e == ENOEXEC) ? 126 : 127
        return fail("tarmac: cannot start \(command[0]): \(String(cString: strerror(e)))", code: code)
    }

    static func fail(_ message: String, code: Int32 = 127) -> Int32 {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        return code
    }


    // MARK: probe

    /// What this machine allows (`tarmac pod-exec --probe`, run as a child of `tarmac up` so that nothing it tries
    /// touches the server): Landlock's ABI, and for root whether a private mount namespace with tmpfs and a
    /// `hidepid` /proc can be made.
    public static func probe() -> Isolation.Probe {
        let root = geteuid() == 0
        let abi = Int(tarmac_landlock_abi())
        guard root else { return Isolation.Probe(root: false, landlockABI: abi, privateMounts: false, mountError: nil) }
        var failure: String?
        let dir = NSTemporaryDirectory() + "/tarmac-probe-\(getpid())"
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            guard tarmac_private_mounts() == 0 else { throw PodExecError("unshare(CLONE_NEWNS)", errno) }
            guard tarmac_mount("tarmac", dir, "tmpfs", UInt(MS_NOSUID | MS_NODEV), "mode=0755,size=1m") == 0 else { throw PodExecError("mount tmpfs", errno) }
            umount2(dir, Int32(MNT_DETACH))
            guard tarmac_mount("proc", dir, "proc", UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC), "hidepid=invisible") == 0 else { throw PodExecError("mount proc with hidepid", errno) }
            umount2(dir, Int32(MNT_DETACH))
        } catch {
            failure = "\(error)"
        }
        return Isolation.Probe(root: true, landlockABI: abi, privateMounts: failure == nil, mountError: failure)
    }
}
