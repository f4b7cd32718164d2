import Crypto
import Foundation
import Synchronization
import TarmacCore

/// The portal's browser sessions and one-time sign-in links, in memory.
///
/// A session keeps the hash of the API token it was signed in with, never the secret: every request looks the token up
/// again, so revoking it (or its expiry) ends the session at once. A session ends after `idleTimeout` without a
/// request, after `maxAge` in any case, and at sign-out. A link works once, for `linkTTL`. Ids and CSRF tokens are 256
/// random bits; the table holds only their SHA-256, so a memory dump does not hand out sessions. The clock is the
/// control plane's (`RuntimeClock`): the tests move it.
public final class PortalSessions: Sendable {
    public struct Session: Sendable, Hashable {
        public var tokenHash: String
        public var csrf: String
        public var created: Date
        public var lastSeen: Date
    }

    public struct Settings: Sendable {
        public var idleTimeout: TimeInterval
        public var maxAge: TimeInterval
        public var linkTTL: TimeInterval
        /// Sessions kept at most (the oldest go first).
        public var capacity: Int
        public init(idleTimeout: TimeInterval = 8 * 3600, maxAge: TimeInterval = 7 * 86400, linkTTL: TimeInterval = 600, capacity: Int = 100_000) {
            self.idleTimeout = idleTimeout
            self.maxAge = maxAge
            self.linkTTL = linkTTL
            self.capacity = capacity
        }
    }

    private struct State {
        var sessions: [String: Session] = [:]
        var links: [String: (tokenHash: String, expires: Date)] = [:]
    }

    private let state = Mutex(State())
    public let clock: any RuntimeClock
    public let settings: Settings

    public init(clock: any RuntimeClock = SystemClock(), settings: Settings = Settings()) {
        self.clock = clock
        self.settings = settings
    }

    /// A new random secret: 32 bytes, URL-safe base64.
    static func secret() -> String {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func key(_ secret: String) -> String { SHA256.hash(data: Data(secret.utf8)).map { String(format: "%02x", $0) }.joined() }

    /// Opens a session for a token (by its hash). Returns the session id for the cookie, and the session.
    public func open(tokenHash: String) -> (id: String, session: Session) {
        let id = Self.secret(), now = clock.now
        let s = Session(tokenHash: tokenHash, csrf: Self.secret(), created: now, lastSeen: now)
        state.withLock { st in
            if st.sessions.count >= settings.capacity {
                // Full: the expired go first, then the least recently used.
                st.sessions = st.sessions.filter { alive($0.value, now: now) }
                if st.sessions.count >= settings.capacity, let oldest = st.sessions.min(by: { $0.value.lastSeen < $1.value.lastSeen }) {
                    st.sessions[oldest.key] = nil
                }
            }
            st.sessions[Self.key(id)] = s
        }
        return (id, s)
    }

    private func alive(_ s: Session, now: Date) -> Bool {
        now.timeIntervalSince(s.lastSeen) < settings.idleTimeout && now.timeIntervalSince(s.created) < settings.maxAge
    }

    /// The live session behind a cookie value (and notes that it was used), or nil.
    public func session(_ id: String) -> Session? {
        guard !id.isEmpty, id.count < 200 else { return nil }
        let k = Self.key(id), now = clock.now
        return state.withLock { st in
            guard var s = st.sessions[k] else { return nil }
            guard alive(s, now: now) else {
                st.sessions[k] = nil
                return nil
            }
            s.lastSeen = now
            st.sessions[k] = s
            return s
        }
    }

    /// Ends a session (sign-out, or its token found revoked).
    public func close(_ id: String) {
        let k = Self.key(id)
        _ = state.withLock { $0.sessions.removeValue(forKey: k) }
    }

    /// A one-time sign-in code for a token (by its hash), valid for `settings.linkTTL`.
    public func link(tokenHash: String) -> (code: String, expires: Date) {
        let code = Self.secret(), expires = clock.now.addingTimeInterval(settings.linkTTL)
        state.withLock { st in
            let now = clock.now
            st.links = st.links.filter { $0.value.expires > now }
            st.links[Self.key(code)] = (tokenHash, expires)
        }
        return (code, expires)
    }

    /// Uses a one-time code: the token hash it was made for, once, before it expires.
    public func redeem(_ code: String) -> String? {
        guard !code.isEmpty, code.count < 200 else { return nil }
        let k = Self.key(code), now = clock.now
        return state.withLock { st in
            guard let l = st.links.removeValue(forKey: k), l.expires > now else { return nil }
            return l.tokenHash
        }
    }

    public var count: Int { state.withLock { $0.sessions.count } }
}
