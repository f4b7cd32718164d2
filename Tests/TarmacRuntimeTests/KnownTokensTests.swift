import TarmacCore
import Foundation
import Testing
@testable import TarmacRuntime

/// The authentication cache: a revocation removes the token, and a read that raced with it cannot put it back.
@Suite struct KnownTokensTests {
    @Test func aRevokedTokenIsNeitherKeptNorPutBack() {
        let known = KnownTokens()
        let t = APIToken(id: "tok-1", name: "ci", role: .member, team: "ads", hash: "h1", createdAt: Date(), expiresAt: nil, createdBy: "admin")
        let other = APIToken(id: "tok-2", name: "bot", role: .viewer, team: nil, hash: "h2", createdAt: Date(), expiresAt: nil, createdBy: "admin")
        known.put(t)
        known.put(other)
        #expect(known.get("h1")?.id == "tok-1")
        known.remove(id: "tok-1")
        #expect(known.get("h1") == nil)
        known.put(t)  // read from the store before the revocation committed
        #expect(known.get("h1") == nil)
        #expect(known.get("h2")?.id == "tok-2", "other tokens stay")
    }
}
