import Foundation

/// How the local backend keeps pods apart from the control plane and from each other, as found on this machine.
///
/// - `uid`: the control plane runs as root. Each pod runs as a user id of its own, in a mount namespace of its own in
///   which the data directory is an empty tmpfs holding only the pod's own sandbox, `/tmp` and `/dev/shm` are private,
///   and `/proc` shows only the pod's own processes (`hidepid`). Landlock is added on top where the kernel has it.
/// - `landlock`: the control plane runs as an ordinary user. Pods run as that user, but Landlock (Linux 5.13+) limits
///   each to reading the system (not the data directory, the server's home, the credentials and anchor files, `/tmp`),
///   writing only its sandbox, and (Landlock ABI 6+) signalling only its own processes; no pod can read another
///   process's memory or environment through `/proc`, since Landlock forbids ptrace-style access outside its domain.
/// - `none`: nothing of the above is available. Pods run as the server's user and can read what it can.
public struct Isolation: Codable, Sendable, Hashable {
    public enum Mode: String, Codable, Sendable, CaseIterable {
        case uid, landlock, none
    }

    public var mode: Mode
    /// The kernel's Landlock ABI (0: none).
    public var landlockABI: Int
    /// Whether a pod can have a mount namespace of its own (root only).
    public var privateMounts: Bool

    public init(mode: Mode, landlockABI: Int, privateMounts: Bool) {
        self.mode = mode
        self.landlockABI = landlockABI
        self.privateMounts = privateMounts
    }

    /// What the machine offers, as `tarmac pod-exec --probe` found it.
    public struct Probe: Codable, Sendable, Hashable {
        public var root: Bool
        public var landlockABI: Int
        public var privateMounts: Bool
        /// Why private mounts are not available, when they are not.
        public var mountError: String?
        public init(root: Bool, landlockABI: Int, privateMounts: Bool, mountError: String?) {
            self.root = root
            self.landlockABI = landlockABI
            self.privateMounts = privateMounts
            self.mountError = mountError
        }
    }

    /// The strongest mode the probe allows, or the one asked for if it is available (else an error saying why not).
    public static func choose(_ requested: Mode?, probe p: Probe) throws -> Isolation {
        let uidOK = p.root && p.privateMounts
        let best: Mode = uidOK ? .uid : (p.landlockABI > 0 && !p.root ? .landlock : .none)
        let mode = requested ?? best
        switch mode {
        case .uid where !uidOK:
            throw IsolationError(p.root
                ? "per-pod user ids need private mount namespaces, which this machine refused (\(p.mountError ?? "unknown error"))"
                : "per-pod user ids need the control plane to run as root")
        case .landlock where p.landlockABI == 0:
            throw IsolationError("this kernel has no Landlock (Linux 5.13 or later with landlock in the lsm= list)")
        case .landlock where p.root:
            // Pods would run as root: Landlock limits files and signals, but not what root's capabilities reach
            // (a root pod can still read other processes' memory and environment through /proc).
            throw IsolationError("as root, pods would run as root; use uid (the default as root) or start tarmac up as an ordinary user")
        default:
            return Isolation(mode: mode, landlockABI: p.landlockABI, privateMounts: p.privateMounts && mode == .uid)
        }
    }

    /// One line for the start banner.
    public var summary: String {
        switch mode {
        case .uid:
            return "per-pod user ids, private mounts (data directory hidden, own /tmp and /dev/shm, /proc shows own processes only)"
                + (landlockABI > 0 ? ", Landlock ABI \(landlockABI)" : "")
        case .landlock:
            return "Landlock ABI \(landlockABI): pods read the system but not the data directory, the server's home or credentials, and write only their sandbox"
                + (landlockABI >= 6 ? "; signals scoped" : "; signals NOT scoped (Landlock ABI 6+ needed): a pod can signal the server's processes")
        case .none:
            return "NONE: pods run as the server's user and can read its data directory, store and credentials"
        }
    }

    /// Whether pods of different teams can safely share this machine.
    public var containsPods: Bool { mode != .none }
}

public struct IsolationError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}

import Subprocess
import SystemPackage

extension Isolation {
    /// Asks a child (`EXECUTABLE pod-exec --probe`) what this machine allows, so that nothing the probe tries (a mount
    /// namespace, mounts) touches the calling process.
    public static func probe(executable: String) async throws -> Probe {
        let result = try await Subprocess.run(.path(FilePath(executable)), arguments: ["pod-exec", "--probe"],
                                              output: .data(limit: 1 << 16), error: .discarded)
        guard result.terminationStatus.isSuccess else { throw IsolationError("the isolation probe failed (\(result.terminationStatus))") }
        return try JSONDecoder().decode(Probe.self, from: result.standardOutput)
    }
}
