import Crypto
import Foundation

/// SHA-256 in lowercase hex.
public enum Digest {
    public static func sha256Hex(_ data: Data) -> String { hex(SHA256.hash(data: data)) }
    public static func sha256Hex(_ s: String) -> String { sha256Hex(Data(s.utf8)) }
    public static func sha256Hex(_ bytes: [UInt8]) -> String { hex(SHA256.hash(data: bytes)) }

    static func hex(_ d: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for b in d {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let digits = Array("0123456789abcdef".utf8)
}
