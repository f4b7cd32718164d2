/// "Did you mean" for names: the closest candidates by edit distance (with transpositions), case-insensitive.
public enum Suggestions {
    public static func closest(to word: String, in candidates: some Sequence<String>) -> String? {
        let w = word.lowercased()
        var best: (String, Int)?
        for c in candidates {
            let d = distance(w, c.lowercased())
            let limit = max(1, min(3, c.count / 3))
            guard d <= limit || c.lowercased().hasPrefix(w) && w.count >= 3 || w.hasPrefix(c.lowercased()) && c.count >= 3 else { continue }
            if best == nil || d < best!.1 || (d == best!.1 && c < best!.0) { best = (c, d) }
        }
        return best?.0
    }

    /// `; did you mean 'x'?` or `; valid names: a, b, c` or `; none are defined`.
    public static func hint(for word: String, in candidates: some Collection<String>, noun: String = "names") -> String {
        let sorted = candidates.sorted()
        if let s = closest(to: word, in: sorted) { return "; did you mean '\(s)'?" }
        if sorted.isEmpty { return "; no \(noun) are defined" }
        let shown = sorted.prefix(12).joined(separator: ", ")
        return "; valid \(noun): \(shown)\(sorted.count > 12 ? ", …" : "")"
    }

    /// Damerau-Levenshtein (optimal string alignment) distance.
    public static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var d = Array(repeating: Array(repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
                }
            }
        }
        return d[a.count][b.count]
    }
}
