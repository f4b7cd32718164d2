import Foundation
import Testing
import TarmacCore
@testable import TarmacPortal

/// Sessions and one-time links over a test clock: when they end, and that they hold no secret in the clear.
@Suite struct PortalSessionsTests {
    let clock = ManualClock()

    func sessions(idle: TimeInterval = 3600, maxAge: TimeInterval = 86400, link: TimeInterval = 600, capacity: Int = 100) -> PortalSessions {
        PortalSessions(clock: clock, settings: .init(idleTimeout: idle, maxAge: maxAge, linkTTL: link, capacity: capacity))
    }

    @Test func aSessionLastsWhileUsedAndEndsAfterIdling() {
        let s = sessions(idle: 60)
        let (id, opened) = s.open(tokenHash: "h1")
        #expect(s.session(id)?.tokenHash == "h1")
        #expect(s.session(id)?.csrf == opened.csrf)
        clock.advance(by: 59)
        #expect(s.session(id) != nil, "used within the idle timeout")
        clock.advance(by: 59)
        #expect(s.session(id) != nil, "each use restarts the idle timeout")
        clock.advance(by: 60)
        #expect(s.session(id) == nil, "60 s unused: ended")
        #expect(s.count == 0, "and forgotten")
    }

    @Test func aSessionEndsAtItsMaximumAgeEvenWhenUsed() {
        let s = sessions(idle: 100, maxAge: 250)
        let (id, _) = s.open(tokenHash: "h")
        for _ in 0..<2 {
            clock.advance(by: 99)
            #expect(s.session(id) != nil)
        }
        clock.advance(by: 99)
        #expect(s.session(id) == nil, "297 s > 250 s")
    }

    @Test func signOutEndsTheSessionAndNoOtherId() {
        let s = sessions()
        let (a, _) = s.open(tokenHash: "h")
        let (b, _) = s.open(tokenHash: "h")
        #expect(a != b)
        s.close(a)
        #expect(s.session(a) == nil)
        #expect(s.session(b) != nil)
        #expect(s.session("") == nil && s.session("not-an-id") == nil)
    }

    @Test func idsAndCSRFTokensAreLongRandomAndDistinct() {
        let s = sessions(capacity: 10_000)
        var seen = Set<String>()
        for _ in 0..<500 {
            let (id, session) = s.open(tokenHash: "h")
            #expect(id.count == 43 && session.csrf.count == 43, "256 bits, base64url")
            #expect(id.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
            #expect(seen.insert(id).inserted && seen.insert(session.csrf).inserted)
        }
    }

    @Test func aLinkWorksOnceAndNotAfterItExpires() {
        let s = sessions(link: 600)
        let first = s.link(tokenHash: "h1")
        #expect(first.expires == clock.now.addingTimeInterval(600))
        #expect(s.redeem(first.code) == "h1")
        #expect(s.redeem(first.code) == nil, "a second use")
        let second = s.link(tokenHash: "h2")
        clock.advance(by: 601)
        #expect(s.redeem(second.code) == nil, "expired")
        #expect(s.redeem("") == nil && s.redeem(String(repeating: "x", count: 500)) == nil)
    }

    @Test func whenFullTheLeastRecentlyUsedSessionGoes() {
        let s = sessions(capacity: 3)
        let ids = (0..<3).map { i -> String in
            clock.advance(by: 1)
            return s.open(tokenHash: "h\(i)").id
        }
        clock.advance(by: 1)
        _ = s.session(ids[0])  // the oldest is used again: the second is now the least recent
        clock.advance(by: 1)
        let fourth = s.open(tokenHash: "h3").id
        #expect(s.count == 3)
        #expect(s.session(ids[1]) == nil)
        #expect(s.session(ids[0]) != nil && s.session(ids[2]) != nil && s.session(fourth) != nil)
    }
}
