/// A model version as Semantic Versioning 2.0.0 writes it: `MAJOR.MINOR.PATCH`, an optional pre-release
/// (`-rc.1`) and build metadata (`+sha.5114f85`, ignored in ordering). Versions order as SemVer's §11 says.
public struct SemanticVersion: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    public var major: Int
    public var minor: Int
    public var patch: Int
    /// Dot-separated pre-release identifiers; empty: a release.
    public var prerelease: [String]
    public var build: [String]

    /// Why a text is not a version, in words a user can act on.
    public struct Problem: Error, Sendable, Hashable, CustomStringConvertible {
        public var description: String
    }

    public init(major: Int, minor: Int, patch: Int, prerelease: [String] = [], build: [String] = []) {
        self.major = major
        self.minor = minor
        self.patch = patch
        self.prerelease = prerelease
        self.build = build
    }

    /// Parses `1.4.0`, `2.0.0-rc.1`, `1.0.0+build.7`; a leading `v` is refused (it is not SemVer).
    public static func parse(_ text: String) -> Result<SemanticVersion, Problem> {
        func fail(_ why: String) -> Result<SemanticVersion, Problem> {
            .failure(Problem(description: "'\(text)' is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.4.0 or 2.0.0-rc.1): \(why)"))
        }
        var rest = Substring(text)
        var build: [String] = []
        if let plus = rest.firstIndex(of: "+") {
            build = rest[rest.index(after: plus)...].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard !build.contains(where: { $0.isEmpty || !$0.allSatisfy(Self.isIdentifierCharacter) }) else { return fail("bad build metadata") }
            rest = rest[..<plus]
        }
        var prerelease: [String] = []
        if let dash = rest.firstIndex(of: "-") {
            prerelease = rest[rest.index(after: dash)...].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            for p in prerelease {
                guard !p.isEmpty, p.allSatisfy(Self.isIdentifierCharacter) else { return fail("bad pre-release identifier '\(p)'") }
                if p.allSatisfy(\.isASCIIDigit), p.count > 1, p.first == "0" { return fail("numeric identifier '\(p)' has a leading zero") }
            }
            rest = rest[..<dash]
        }
        let core = rest.split(separator: ".", omittingEmptySubsequences: false)
        guard core.count == 3 else { return fail("it needs three numbers") }
        var numbers: [Int] = []
        for c in core {
            guard !c.isEmpty, c.allSatisfy(\.isASCIIDigit), let n = Int(c) else { return fail("'\(c)' is not a number") }
            if c.count > 1, c.first == "0" { return fail("'\(c)' has a leading zero") }
            numbers.append(n)
        }
        return .success(SemanticVersion(major: numbers[0], minor: numbers[1], patch: numbers[2], prerelease: prerelease, build: build))
    }

    static func isIdentifierCharacter(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber || c == "-") }

    public var description: String {
        "\(major).\(minor).\(patch)" + (prerelease.isEmpty ? "" : "-" + prerelease.joined(separator: ".")) + (build.isEmpty ? "" : "+" + build.joined(separator: "."))
    }

    /// Precedence (§11): numbers first; a pre-release comes before its release; identifiers compare numerically when
    /// both are numbers, numbers before text, text by ASCII; a longer list wins when all before are equal. Build
    /// metadata does not count.
    public static func < (a: SemanticVersion, b: SemanticVersion) -> Bool {
        if (a.major, a.minor, a.patch) != (b.major, b.minor, b.patch) { return (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch) }
        switch (a.prerelease.isEmpty, b.prerelease.isEmpty) {
        case (true, true), (true, false): return false
        case (false, true): return true
        case (false, false): break
        }
        for (x, y) in zip(a.prerelease, b.prerelease) where x != y {
            switch (Int(x), Int(y)) {
            case let (i?, j?): return i < j
            case (.some, nil): return true
            case (nil, .some): return false
            case (nil, nil): return Array(x.utf8).lexicographicallyPrecedes(Array(y.utf8))
            }
        }
        return a.prerelease.count < b.prerelease.count
    }

    /// The version without its build metadata: equal for versions of equal precedence (a store's unique key).
    public var precedenceKey: String {
        "\(major).\(minor).\(patch)" + (prerelease.isEmpty ? "" : "-" + prerelease.joined(separator: "."))
    }

    /// Equal precedence (build metadata aside).
    public func hasSamePrecedence(as other: SemanticVersion) -> Bool { !(self < other) && !(other < self) }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
