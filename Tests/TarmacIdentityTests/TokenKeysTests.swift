import Crypto
import Foundation
import JWTKit
import Testing
@testable import TarmacIdentity

/// Tokens as the gateway and the token endpoint check them: what verifies, and every malformed or forged token refused
/// with the reason, before any claim is trusted.
@Suite struct TokenKeysTests {
    static let sealing = SymmetricKey(size: .bits256)
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    static func keys(at now: Date = t0) async throws -> TokenKeys {
        let (k, _) = try SigningKey.generate(at: now, sealingKey: sealing)
        var ring = KeyRing([])
        _ = ring.rotate(to: k, at: now, keepFor: 0)
        return try await TokenKeys(issuer: "https://tarmac.test", ring: ring, sealingKey: sealing, now: now)
    }

    static func claims(exp: Date, iat: Date = t0, act: ActorClaim? = ActorClaim(sub: "spiffe://acme/team/a/env/dev/agent/x")) -> AccessTokenClaims {
        AccessTokenClaims(iss: "https://tarmac.test", sub: "dan@acme.example", aud: ["tickets"], exp: Int64(exp.timeIntervalSince1970),
                          iat: Int64(iat.timeIntervalSince1970), jti: "j1", scope: ["read"], act: act, clientID: "spiffe://acme/team/a/env/dev/agent/x",
                          tarmac: WorkloadClaim(wid: "wl-1", att: 1, team: "a"))
    }

    func rejection(_ token: String, keys: TokenKeys, now: Date = t0, typ: String = "at+jwt") async -> TokenRejection? {
        do {
            _ = try await keys.verify(token, as: AccessTokenClaims.self, typ: typ, now: now)
            return nil
        } catch {
            return error
        }
    }

    static func b64(_ s: String) -> String { b64(Data(s.utf8)) }
    static func b64(_ d: Data) -> String { Base64URL.encode(d) }

    @Test func aSignedTokenVerifiesAndCarriesItsClaims() async throws {
        let keys = try await Self.keys()
        let token = try await keys.sign(Self.claims(exp: Self.t0.addingTimeInterval(300)), typ: "at+jwt")
        let c = try await keys.verify(token, as: AccessTokenClaims.self, typ: "at+jwt", now: Self.t0)
        #expect(c.sub == "dan@acme.example")
        #expect(c.act?.sub == "spiffe://acme/team/a/env/dev/agent/x")
        #expect(c.aud.values == ["tickets"])
    }

    @Test func expiryIsCheckedAgainstTheVerifiersClock() async throws {
        let keys = try await Self.keys()
        let token = try await keys.sign(Self.claims(exp: Self.t0.addingTimeInterval(60)), typ: "at+jwt")
        #expect(await rejection(token, keys: keys, now: Self.t0.addingTimeInterval(59)) == nil)
        #expect(await rejection(token, keys: keys, now: Self.t0.addingTimeInterval(62)) == .expired)
        let future = try await keys.sign(Self.claims(exp: Self.t0.addingTimeInterval(600), iat: Self.t0.addingTimeInterval(300)), typ: "at+jwt")
        #expect(await rejection(future, keys: keys) == .issuedInFuture)
    }

    @Test func anSVIDIsNotAnAccessTokenNorTheOtherWayRound() async throws {
        let keys = try await Self.keys()
        let svid = try await keys.sign(SVIDClaims(iss: "https://tarmac.test", sub: "spiffe://acme/x", aud: ["tickets"], exp: Int64(Self.t0.timeIntervalSince1970) + 300,
                                                  iat: Int64(Self.t0.timeIntervalSince1970), jti: "s", tarmac: WorkloadClaim(wid: "wl-1", att: 1, team: "a")), typ: "JWT")
        #expect(await rejection(svid, keys: keys) == .type(expected: "at+jwt", got: "JWT"))
    }

    @Test func forgedAndMalformedTokensAreRefusedWithTheirReason() async throws {
        let keys = try await Self.keys()
        let good = try await keys.sign(Self.claims(exp: Self.t0.addingTimeInterval(300)), typ: "at+jwt")
        let parts = good.split(separator: ".").map(String.init)
        let kid = keys.ring.signer!.kid
        let payload = parts[1]

        // alg none, unsigned.
        #expect(await rejection(Self.b64(#"{"alg":"none","typ":"at+jwt","kid":"\#(kid)"}"#) + "." + payload + ".", keys: keys) == .malformed("an empty part"))
        #expect(await rejection(Self.b64(#"{"alg":"none","typ":"at+jwt","kid":"\#(kid)"}"#) + "." + payload + ".AA", keys: keys) == .algorithm("none"))
        // HS256 keyed with the public key (the algorithm-confusion attack).
        let pub = keys.ring.signer!
        let header = Self.b64(#"{"alg":"HS256","typ":"at+jwt","kid":"\#(kid)"}"#)
        let mac = HMAC<SHA256>.authenticationCode(for: Data((header + "." + payload).utf8), using: SymmetricKey(data: Data((pub.x + pub.y).utf8)))
        #expect(await rejection(header + "." + payload + "." + Self.b64(Data(mac)), keys: keys) == .algorithm("HS256"))
        // An unknown key id, and none at all.
        #expect(await rejection(Self.b64(#"{"alg":"ES256","typ":"at+jwt","kid":"nope"}"#) + "." + payload + "." + parts[2], keys: keys) == .unknownKey)
        #expect(await rejection(Self.b64(#"{"alg":"ES256","typ":"at+jwt"}"#) + "." + payload + "." + parts[2], keys: keys) == .unknownKey)
        // Claims changed under a valid signature.
        let tampered = Self.b64(String(decoding: Data(base64Encoded: Self.pad(payload))!, as: UTF8.self).replacingOccurrences(of: "dan@", with: "eve@"))
        #expect(await rejection(parts[0] + "." + tampered + "." + parts[2], keys: keys) == .signature)
        // Truncated, bad base64, wrong number of parts, huge.
        let t4 = await rejection(String(good.dropLast(4)), keys: keys); #expect(t4 == .signature, "\(String(describing: t4))")
        #expect(await rejection(String(good.dropLast(1)), keys: keys) == .malformed("a part is not base64url"))
        #expect(await rejection(parts[0] + "." + payload + ".!!!", keys: keys) == .malformed("a part is not base64url"))
        #expect(await rejection(parts[0] + "." + payload, keys: keys) == .malformed("2 parts instead of 3"))
        #expect(await rejection(String(repeating: "a", count: 9000), keys: keys) == .tooLarge)
        #expect(await rejection("", keys: keys) == .malformed("1 parts instead of 3"))
        // A header that is not JSON; critical parameters.
        #expect(await rejection(Self.b64("not json") + "." + payload + "." + parts[2], keys: keys) == .malformed("the header is not a JSON object"))
        #expect(await rejection(Self.b64(#"{"alg":"ES256","typ":"at+jwt","kid":"\#(kid)","crit":["exp"]}"#) + "." + payload + "." + parts[2], keys: keys)
                == .malformed("critical header parameters are not supported"))
    }

    /// An `act` chain nested 1,000 deep (as an attacker would write it; Tarmac's encoder refuses to) cannot reach the
    /// verifier's JSON decoder: even the smallest such payload is larger than any token accepted. One deep enough to
    /// fit is refused by its signature.
    @Test func aThousandNestedActorsAreRefusedBeforeDecoding() async throws {
        let keys = try await Self.keys()
        let header = Self.b64(#"{"alg":"ES256","typ":"at+jwt","kid":"\#(keys.ring.signer!.kid)"}"#)
        func token(depth: Int) -> String {
            let act = String(repeating: #"{"act":"#, count: depth) + "{}" + String(repeating: "}", count: depth)
            return header + "." + Self.b64(#"{"iss":"https://tarmac.test","sub":"dan","act":"# + act + "}") + "." + Self.b64(Data(repeating: 7, count: 64))
        }
        #expect(await rejection(token(depth: 1000), keys: keys) == .tooLarge)
        #expect(await rejection(token(depth: 600), keys: keys) == .signature)
        var act: ActorClaim? = nil
        for i in 0..<1000 { act = ActorClaim(sub: "a\(i)", act: act) }
        #expect(act?.depth == 1000)
        await #expect(throws: (any Error).self) { try await keys.sign(Self.claims(exp: Self.t0.addingTimeInterval(300), act: act), typ: "at+jwt") }
    }

    @Test func afterARotationOldTokensVerifyUntilTheirKeyIsDropped() async throws {
        let keys = try await Self.keys()
        let old = try await keys.sign(Self.claims(exp: Self.t0.addingTimeInterval(300)), typ: "at+jwt")
        var ring = keys.ring
        let (next, _) = try SigningKey.generate(at: Self.t0.addingTimeInterval(10), sealingKey: Self.sealing)
        let changed = ring.rotate(to: next, at: Self.t0.addingTimeInterval(10), keepFor: 300)
        #expect(changed.count == 2)
        try await keys.replace(ring, now: Self.t0.addingTimeInterval(10))
        let new = try await keys.sign(Self.claims(exp: Self.t0.addingTimeInterval(300)), typ: "at+jwt")
        #expect(await rejection(old, keys: keys, now: Self.t0.addingTimeInterval(20)) == nil)
        #expect(await rejection(new, keys: keys, now: Self.t0.addingTimeInterval(20)) == nil)
        #expect(ring.jwks(at: Self.t0.addingTimeInterval(20)).keys.map(\.kid) == [next.kid, changed[0].kid])
        // Past keepFor the old key leaves the JWKS; a verifier loaded then refuses what it signed.
        let later = Self.t0.addingTimeInterval(311)
        #expect(ring.expired(at: later).map(\.kid) == [changed[0].kid])
        ring.remove(Set(ring.expired(at: later).map(\.kid)))
        try await keys.replace(ring, now: later)
        #expect(await rejection(old, keys: keys, now: later) == .unknownKey)
        #expect(ring.jwks(at: later).keys.map(\.kid) == [next.kid])
    }

    @Test func aSealedKeyOpensOnlyWithItsSealingKey() throws {
        let (k, priv) = try SigningKey.generate(at: Self.t0, sealingKey: Self.sealing)
        #expect(try k.open(with: Self.sealing).publicKey.parameters?.x == priv.publicKey.parameters?.x)
        #expect(throws: (any Error).self) { try k.open(with: SymmetricKey(size: .bits256)) }
        #expect(!String(decoding: k.sealedPrivateKey, as: UTF8.self).contains("PRIVATE KEY"))
    }

    static func pad(_ s: String) -> String {
        var t = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while t.count % 4 != 0 { t += "=" }
        return t
    }
}
