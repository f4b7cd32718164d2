import Crypto
import Foundation
import PropertyBased
import TarmacDelivery
import TarmacTesting
import Testing

@Suite struct PromotionGatesTests {
    static let manifest = ModelManifest(files: [.init(path: "model.safetensors", sha256: String(repeating: "1f", count: 32), size: 1 << 30)])
    static let key = P256.Signing.PrivateKey()
    static let trusted = ManifestSignature.TrustedKey(name: "ml-release", pem: key.publicKey.pemRepresentation)
    static let signature = try! key.signature(for: manifest.canonical).derRepresentation.base64EncodedString()
    static let everything = PromotionPolicy(requireSignature: true, trustedKeys: [trusted], requireOwner: true, requireReview: true,
                                            requireWarmRollback: true, requireAnalysis: true)

    static func request(signature: String? = signature, owner: String? = "alice@acme.example", author: String = "alice", approvers: [String] = ["bob"],
                        rollback: String? = "ranker@1.3.0", warm: Bool = true, rules: [AnalysisRule] = [AnalysisRule(.successRate, 0.99)]) -> PromotionRequest {
        PromotionRequest(version: "ranker@1.4.0", manifest: manifest, signature: signature, owner: owner, author: author, approvers: approvers,
                         rollbackTarget: rollback, rollbackTargetWarm: warm, rules: rules)
    }

    @Test func aCompleteRequestPassesEveryGateAndSaysWhatItRestedOn() {
        let results = PromotionGates.evaluate(Self.request(), under: Self.everything)
        #expect(results.map(\.gate) == PromotionGates.Gate.allCases && results.allSatisfy(\.passed))
        #expect(results.compactMap(\.detail) == ["signed by ml-release", "owned by alice@acme.example", "approved by bob", "rollback to ranker@1.3.0, warm",
                                                 "success rate at least 0.99"])
        #expect(PromotionGates.evaluate(Self.request(signature: nil, owner: nil, approvers: []), under: PromotionPolicy()).isEmpty, "no gate asked, none evaluated")
    }

    @Test func eachMissingThingIsRefusedByItsGateWithTheReason() {
        func failure(_ r: PromotionRequest, _ gate: PromotionGates.Gate) -> String? {
            PromotionGates.evaluate(r, under: Self.everything).first { $0.gate == gate }?.failure
        }
        #expect(failure(Self.request(signature: nil), .signature)?.contains("is not signed") == true)
        let otherKey = P256.Signing.PrivateKey()
        let foreign = try! otherKey.signature(for: Self.manifest.canonical).derRepresentation.base64EncodedString()
        #expect(failure(Self.request(signature: foreign), .signature)?.contains("does not verify with any trusted key (ml-release)") == true)
        #expect(failure(Self.request(owner: " "), .owner)?.contains("has no owner") == true)
        #expect(failure(Self.request(approvers: ["alice"]), .review)?.contains("approved only by its author (alice)") == true)
        #expect(failure(Self.request(approvers: []), .review)?.contains("nobody approved it") == true)
        #expect(failure(Self.request(rollback: nil), .warmRollback)?.contains("no rollback target") == true)
        #expect(failure(Self.request(warm: false), .warmRollback)?.contains("ranker@1.3.0 is not serving now") == true)
        #expect(failure(Self.request(rules: []), .analysis)?.contains("no analysis rules") == true)
        // One failing gate refuses the promotion; the others still say what they found.
        let results = PromotionGates.evaluate(Self.request(approvers: ["alice"]), under: Self.everything)
        #expect(!PromotionGates.allow(Self.request(approvers: ["alice"]), under: Self.everything) && results.filter(\.passed).count == 4)
    }

    /// A promotion is allowed exactly when every gate the policy asks for passes, and only asked gates are evaluated.
    @Test func allowIsEveryAskedGatePassing() async {
        await propertyCheck(input: Gen.uint64(in: 0...UInt64.max)) { seed in
            var rng = SeededGenerator(seed: seed)
            func coin() -> Bool { rng.int(2) == 1 }
            let policy = PromotionPolicy(requireSignature: coin(), trustedKeys: [Self.trusted], requireOwner: coin(), requireReview: coin(),
                                         requireWarmRollback: coin(), requireAnalysis: coin())
            let r = Self.request(signature: coin() ? Self.signature : nil, owner: coin() ? "o" : nil, author: "a", approvers: coin() ? ["a"] : ["b"],
                                 rollback: coin() ? "m@1.0.0" : nil, warm: coin(), rules: coin() ? [] : [AnalysisRule(.p99LatencyMs, 200)])
            let results = PromotionGates.evaluate(r, under: policy)
            let pairs: [(Bool, PromotionGates.Gate)] = [(policy.requireSignature, .signature), (policy.requireOwner, .owner), (policy.requireReview, .review),
                                                        (policy.requireWarmRollback, .warmRollback), (policy.requireAnalysis, .analysis)]
            let asked = pairs.filter(\.0).map(\.1)
            #expect(results.map(\.gate) == asked)
            #expect(PromotionGates.allow(r, under: policy) == results.allSatisfy(\.passed))
            #expect(results.allSatisfy { ($0.failure == nil) != ($0.detail == nil) })
        }
    }
}
