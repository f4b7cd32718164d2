import Crypto
import Foundation

/// SHA-256 in lowercase hex.
public enum Digest {
    public static func sha256Hex(_ data: Data) -> String { hex(SHA256.hash(data: data)) }
    public static func sha256Hex(_ s: String) -> String { sha256Hex(Data(s.utf8)) }

    static func hex(_ d: some Sequence<UInt8>) -> String {
        var s = ""
        for b in d { s += String(b, radix: 16).count == 1 ? "0" + String(b, radix: 16) : String(b, radix: 16) }
        return s
    }
}
