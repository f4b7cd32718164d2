import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Whether `tarmac up` can have its ports, asked before it touches anything (the store, pods, a cluster): a listening
/// socket is bound and closed again at once.
enum PortCheck {
    /// Why `host:port` cannot be listened on (nil: it can).
    static func unavailable(host: String, port: Int) -> String? {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else { return "cannot resolve \(host)" }
        defer { freeaddrinfo(list) }
        let ai = first.pointee
        let fd = socket(ai.ai_family, ai.ai_socktype, ai.ai_protocol)
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, ai.ai_addr, ai.ai_addrlen) == 0, listen(fd, 1) == 0 else {
            let e = errno
            return e == EADDRINUSE ? "already in use" : String(cString: strerror(e))
        }
        return nil
    }
}
