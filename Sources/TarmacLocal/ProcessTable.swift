import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Reads of /proc: which processes belong to a process group and how much memory they hold.
enum ProcessTable {
    static let pageSize = Int64(sysconf(Int32(_SC_PAGESIZE)))

    /// Resident memory (bytes) of every process in a process group.
    static func residentBytes(processGroup pgid: pid_t) -> Int64 {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return 0 }
        var total: Int64 = 0
        for name in entries where name.first?.isNumber == true {
            guard let fields = stat(name), fields.count > 21, pid_t(fields[2]) == pgid, let rss = Int64(fields[21]) else { continue }
            total += rss * pageSize
        }
        return total
    }

    /// Whether a process exists and has not exited (a zombie has exited).
    static func isRunning(_ pid: pid_t) -> Bool {
        guard let fields = stat(String(pid)), fields.count > 0 else { return false }
        return fields[0] != "Z" && fields[0] != "X"
    }

    /// Fields of /proc/PID/stat after the command name: state is [0], ppid [1], pgrp [2], rss [21].
    static func stat(_ pid: String) -> [Substring]? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].split(separator: " ")
    }
}
