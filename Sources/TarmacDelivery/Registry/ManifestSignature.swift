import Crypto
import Foundation

/// A detached signature over a manifest's canonical bytes: ECDSA P-256 with SHA-256, DER-encoded, base64 — what
/// `openssl dgst -sha256 -sign KEY` and `cosign sign-blob --key KEY` produce. Verified against the public keys the
/// contract trusts for an environment (PEM, `-----BEGIN PUBLIC KEY-----`).
public enum ManifestSignature {
    public enum Verdict: Sendable, Hashable {
        /// Valid, by the trusted key with this name.
        case valid(key: String)
        case invalid(String)
    }

    /// A trusted key: its name (for messages and the audit trail) and its PEM.
    public struct TrustedKey: Sendable, Hashable {
        public var name: String
        public var pem: String
        public init(name: String, pem: String) {
            self.name = name
            self.pem = pem
        }
    }

    /// Checks `signature` (base64 of DER) over `manifest.canonical` against each trusted key.
    public static func verify(_ signature: String, over manifest: ModelManifest, trusting keys: [TrustedKey]) -> Verdict {
        verify(signature, over: manifest.canonical, trusting: keys)
    }

    public static func verify(_ signature: String, over bytes: Data, trusting keys: [TrustedKey]) -> Verdict {
        guard !keys.isEmpty else { return .invalid("no key is trusted for signatures here") }
        let cleaned = signature.filter { !$0.isWhitespace }
        guard let der = Data(base64Encoded: cleaned) else { return .invalid("the signature is not base64") }
        guard let sig = try? P256.Signing.ECDSASignature(derRepresentation: der) else {
            return .invalid("the signature is not a DER-encoded ECDSA P-256 signature")
        }
        var unreadable: [String] = []
        for k in keys {
            guard let key = try? P256.Signing.PublicKey(pemRepresentation: k.pem) else {
                unreadable.append(k.name)
                continue
            }
            if key.isValidSignature(sig, for: bytes) { return .valid(key: k.name) }
        }
        let note = unreadable.isEmpty ? "" : " (\(unreadable.joined(separator: ", ")) could not be read as P-256 public keys)"
        return .invalid("the signature does not verify with any trusted key (\(keys.map(\.name).joined(separator: ", ")))\(note): "
                        + "it was made over other bytes or with another key")
    }
}
