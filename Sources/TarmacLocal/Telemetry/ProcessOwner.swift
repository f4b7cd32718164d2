#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Which workload a process of this machine belongs to: the pod supervisor among its ancestors names it
/// (`tarmac pod-supervisor ROOT/WORKLOAD/ATTEMPT/POD`). Read from `/proc` (the parent of each, then its command line).
public struct ProcessOwner: Sendable {
    /// The pods' directory (`DATA/pods`).
    public let podsRoot: String
    let proc: String

    public init(podsRoot: String, proc: String = "/proc") {
        self.podsRoot = podsRoot
        self.proc = proc
    }

    /// The workload id, or nil for a process that is not (or no longer) one of a pod.
    public func workload(of pid: Int32) -> String? {
        var p = pid
        for _ in 0..<64 {
            guard p > 1 else { return nil }
            if let args = commandLine(p), let id = Self.workload(commandLine: args, podsRoot: podsRoot) { return id }
            guard let parent = parent(p) else { return nil }
            p = parent
        }
        return nil
    }

    /// The workload a supervisor's command line names, if it is one under `podsRoot`.
    static func workload(commandLine args: [String], podsRoot: String) -> String? {
        guard let i = args.firstIndex(of: "pod-supervisor"), i + 1 < args.count else { return nil }
        let root = podsRoot.hasSuffix("/") ? podsRoot : podsRoot + "/"
        guard args[i + 1].hasPrefix(root) else { return nil }
        let parts = args[i + 1].dropFirst(root.count).split(separator: "/")
        guard parts.count == 3, Int(parts[1]) != nil, Int(parts[2]) != nil else { return nil }
        return String(parts[0])
    }

    func commandLine(_ pid: Int32) -> [String]? {
        guard let d = FileManager.default.contents(atPath: "\(proc)/\(pid)/cmdline"), !d.isEmpty else { return nil }
        return d.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The parent from `/proc/PID/stat` (`pid (comm) state ppid ...`; the command name may hold spaces and parentheses).
    func parent(_ pid: Int32) -> Int32? {
        guard let d = FileManager.default.contents(atPath: "\(proc)/\(pid)/stat") else { return nil }
        let text = String(decoding: d, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? Int32(fields[1]) : nil
    }
}
