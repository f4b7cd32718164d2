import Dispatch
import Foundation

extension Array where Element: Sendable {
    /// `map` on every core: the collection in contiguous chunks, each element transformed once, results in order.
    /// For pure, CPU-bound transforms of many elements (reading, checking and rendering documents); small inputs are
    /// mapped in place. The calling thread waits: not for the cooperative pool of an async server.
    public func parallelMap<T>(minimumCount: Int = 64, _ transform: @Sendable (Element) -> T) -> [T] {
        let n = count
        let cores = ProcessInfo.processInfo.activeProcessorCount
        guard n >= minimumCount, cores > 1 else { return map(transform) }
        let chunks = Swift.min(n, cores * 4)
        var out = [T?](repeating: nil, count: n)
        out.withUnsafeMutableBufferPointer { buffer in
            let slots = Slots(base: buffer.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                // Each index is written by exactly one chunk.
                for i in (c * n / chunks)..<((c + 1) * n / chunks) { slots.base[i] = transform(self[i]) }
            }
        }
        return out.map { $0! }
    }
}

/// The output buffer of `parallelMap`, shared by its chunks (disjoint indices).
private struct Slots<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T?>
}
