import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Waits for a file to grow: for log followers, which then read at once instead of polling. On Linux the kernel says
/// when (inotify); the wait itself runs on a Dispatch thread, never on Swift's cooperative pool.
enum FileGrowth {
    /// Returns when `path` holds more than `offset` bytes, when it changes in any way (a follower reads again and
    /// finds out), or when `timeout` passes.
    /// `watching` is called once the kernel watches the file, just before the wait (tests write only then).
    static func wait(_ path: String, beyond offset: Int64, timeout: Duration, watching: (@Sendable () -> Void)? = nil) async {
        if size(path) > offset { return }
        #if canImport(Glibc)
        let fd = inotify_init1(Int32(IN_NONBLOCK) | Int32(IN_CLOEXEC))
        guard fd >= 0 else { return await sleep(timeout) }
        defer { close(fd) }
        // The file, or its directory while it does not exist yet (it appears when the pod first writes).
        let target = FileManager.default.fileExists(atPath: path) ? path : (path as NSString).deletingLastPathComponent
        let events = UInt32(IN_MODIFY) | UInt32(IN_CREATE) | UInt32(IN_CLOSE_WRITE) | UInt32(IN_DELETE_SELF) | UInt32(IN_MOVE_SELF) | UInt32(IN_ATTRIB)
        guard inotify_add_watch(fd, target, events) >= 0 else { return await sleep(timeout) }
        // It may have grown between the first look and the watch.
        if size(path) > offset { return }
        watching?()
        let ms = Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                _ = poll(&p, 1, ms)
                c.resume()
            }
        }
        #else
        await sleep(timeout)
        #endif
    }

    static func size(_ path: String) -> Int64 {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_size) : -1
    }

    static func sleep(_ d: Duration) async { try? await Task.sleep(for: d) }
}
