/// The `act` claim of RFC 8693: who acts, and (nested) who acted before it. The outermost is the current actor.
public final class ActorClaim: Codable, Sendable, Hashable {
    public let sub: String
    public let act: ActorClaim?

    public init(sub: String, act: ActorClaim? = nil) {
        self.sub = sub
        self.act = act
    }

    /// How many actors the chain names (1 for a single agent).
    public var depth: Int {
        var n = 1
        var next = act
        while let a = next {
            n += 1
            next = a.act
        }
        return n
    }

    /// The actors, outermost (current) first.
    public var chain: [String] {
        var out = [sub]
        var next = act
        while let a = next {
            out.append(a.sub)
            next = a.act
        }
        return out
    }

    public static func == (a: ActorClaim, b: ActorClaim) -> Bool { a.chain == b.chain }
    public func hash(into h: inout Hasher) { h.combine(chain) }
}
