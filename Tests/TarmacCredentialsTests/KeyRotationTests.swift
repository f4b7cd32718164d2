import TarmacCore
import Crypto
import Foundation
import Logging
import Testing
import TarmacContract
import TarmacCredentials
import TarmacIdentity
import TarmacRuntime
import TarmacStoreSQLite
import TarmacTesting

/// Signing keys over time, on a manual clock and a real store: the first key at start; a rotation when the contract's
/// `keyRotation` has passed; the old key published until its last token could have expired, then dropped; and the keys a
/// restarted control plane finds are the ones it left.
@Suite struct KeyRotationTests {
    @Test func keysRotateOnScheduleAndLeaveTheJWKSOnceTheirTokensExpired() async throws {
        let dir = try TemporaryDirectory()
        let contract = try #require(ContractLoader.load(Fixtures.examplePlatform).contract)
        let identity = contract.platform.identity
        let clock = ManualClock()
        let sealing = SymmetricKey(size: .bits256)
        func start(_ store: SQLiteStore) async throws -> CredentialAuthority {
            let cp = ControlPlane(contract: contract, store: store, backend: SimulatedBackend(platform: contract.platform), clock: clock)
            try await cp.start()
            return try await CredentialAuthority.start(issuer: "https://tarmac.test", store: store, controlPlane: cp, sealingKey: sealing,
                                                       clock: clock, logger: Logger(label: "test"))
        }
        let store = try SQLiteStore(path: dir.path + "/t.db")
        let authority = try await start(store)
        let first = try #require(authority.jwks().keys.first?.kid)
        #expect(authority.jwks().keys.count == 1)
        #expect(authority.nextRotation == clock.now.addingTimeInterval(Double(identity.keyRotation.seconds)))

        // Not due yet: nothing happens.
        clock.advance(by: Double(identity.keyRotation.seconds) - 1)
        #expect(try await authority.rotateIfDue() == nil)
        // Due: a new signer; the first stays published.
        clock.advance(by: 2)
        let second = try #require(try await authority.rotateIfDue())
        #expect(authority.jwks().keys.map(\.kid) == [second.kid, first])
        // Until the longest-lived token the first key signed has expired, then it is dropped from the JWKS and the store.
        let keep = Double(max(identity.svidLifetime.seconds, identity.maxTokenLifetime.seconds))
        clock.advance(by: keep - 1)
        try await authority.pruneKeys()
        #expect(authority.jwks().keys.map(\.kid) == [second.kid, first])
        clock.advance(by: 3)
        try await authority.pruneKeys()
        #expect(authority.jwks().keys.map(\.kid) == [second.kid])
        #expect(try await store.signingKeys().map(\.kid) == [second.kid])

        // A restart finds the same signer, and makes no new key.
        let again = try await start(try SQLiteStore(path: dir.path + "/t.db"))
        #expect(again.jwks().keys.map(\.kid) == [second.kid])
        let actions = try await store.auditRecords(since: nil, limit: nil).map(\.action)
        #expect(actions.filter { $0.hasPrefix("key-") } == ["key-create", "key-rotate", "key-drop"])
    }
}
