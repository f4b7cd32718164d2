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
        return exec(command, omitted: spec.toolchain?.omitted ?? [])
    }

    static func confine(_ s: SandboxSpec) throws {
        // Into the pod's cgroup first, while this process may still write there: everything the command starts follows.
        try s.cgroup?.join(getpid())
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
            let hidden = s.hidden + [s.dataDirectory] + (s.toolchain?.withheld ?? [])
            let fm = FileManager.default
            let children: (String) -> [String]? = { try? fm.contentsOfDirectory(atPath: $0) }
            var rules = Landlock.readable(roots: ["/"], hidden: hidden, children: children, resolve: SandboxPolicy.realPath)
                .map { Landlock.Rule(path: $0, access: .read) }
            // The toolchain's trees inside the hidden home, less what stays hidden inside them.
            if let exposed = s.toolchain?.exposed, !exposed.isEmpty {
                let inside = hidden.filter { h in !exposed.contains { $0 == h || $0.isInside(h) } }
                rules += Landlock.readable(roots: exposed, hidden: inside, children: children, resolve: SandboxPolicy.realPath)
                    .map { Landlock.Rule(path: $0, access: .read) }
            }
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
        // Handles on the toolchain's trees, taken before the home is covered.
        let exposed = (s.toolchain?.exposed ?? []).filter { p in s.serverHome.map { p.isInside($0) } ?? false }.compactMap { path -> (String, Int32)? in
            let fd = tarmac_open_path(path, 1)
            return fd >= 0 ? (path, fd) : nil
        }
        defer { for (_, fd) in exposed { close(fd) } }
        let flags = UInt(MS_NOSUID | MS_NODEV)
        let fm = FileManager.default
        for t in ["/tmp", "/var/tmp", "/dev/shm"] where fm.fileExists(atPath: t) {
            guard tarmac_mount("tarmac", t, "tmpfs", flags, "mode=1777") == 0 else { throw PodExecError("mount tmpfs on \(t)", errno) }
        }
        // The server's home: empty but for the toolchain's trees, bound in read-only; what tools keep beside their
        // programs (credentials) is covered again inside them.
        if let home = s.serverHome {
            // The home may lie under one of those (now empty): make its path again before covering it.
            try fm.createDirectory(atPath: home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            guard tarmac_mount("tarmac", home, "tmpfs", flags, "mode=0755,size=1m") == 0 else { throw PodExecError("mount tmpfs on \(home)", errno) }
            for (path, fd) in exposed {
                try fm.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
                guard tarmac_bind("/proc/self/fd/\(fd)", path) == 0 else { throw PodExecError("bind \(path)", errno) }
                guard tarmac_remount_readonly(path) == 0 else { throw PodExecError("read-only \(path)", errno) }
            }
            for w in s.toolchain?.withheld ?? [] where w.isInside(home) && w != s.dataDirectory && !s.dataDirectory.isInside(w) {
                var st = stat()
                guard lstat(w, &st) == 0 else { continue }
                let covered = (st.st_mode & S_IFMT) == S_IFDIR
                    ? tarmac_mount("tarmac", w, "tmpfs", flags | UInt(MS_RDONLY), "mode=0700,size=4k")
                    : tarmac_bind("/dev/null", w)
                guard covered == 0 else { throw PodExecError("hide \(w)", errno) }
            }
        }
        // The data directory may lie under one of those (now empty): make its path again before covering it.
        try fm.createDirectory(atPath: s.dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        guard tarmac_mount("tarmac", s.dataDirectory, "tmpfs", flags, "mode=0755,size=1m") == 0 else { throw PodExecError("mount tmpfs on \(s.dataDirectory)", errno) }
        try fm.createDirectory(atPath: s.box, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        guard tarmac_bind("/proc/self/fd/\(box)", s.box) == 0 else { throw PodExecError("bind \(s.box)", errno) }
        guard tarmac_mount("proc", "/proc", "proc", flags | UInt(MS_NOEXEC), "hidepid=invisible") == 0 else { throw PodExecError("mount /proc", errno) }
    }

    /// Executes the command, looked up on the pod's PATH as a shell does (a directory the pod may not search, or a
    /// file it may not execute, is passed over). Returns only on failure, with 127 for a command that is not there
    /// and 126 for one that cannot be executed, and a message that says which and why (`CommandLookup`).
    static func exec(_ command: [String], omitted: [PodToolchain.Omission] = []) -> Int32 {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        var argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) }
        argv.append(nil)
        let lookup = CommandLookup(command: command[0], path: path, omitted: omitted)
        let failure = lookup.run { candidate in
            execv(candidate, argv)
            let e = errno
            if e == ENOEXEC {
                // A script without a `#!` line: the shell runs it, as execvp would.
                var sh: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh"), strdup(candidate)] + argv.dropFirst()
                execv("/bin/sh", &sh)
            }
            return e
        }
        return fail(failure.message, code: failure.exitCode)
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
