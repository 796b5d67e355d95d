import Foundation

/// Cross-entropy of logits against target ids: `loss = logsumexp(logits) - logits[target]`.
/// A negative target (PyTorch's `ignore_index = -100` convention) marks a row to skip: its loss
/// and gradient are 0.
public enum CrossEntropy {
    /// lossPerRow[r] = -log softmax(logits[r])[targets[r]]; also logsumexp per row when asked.
    public static func forward(logits: UnsafePointer<Float>, rows: Int, vocab: Int, targets: UnsafePointer<Int32>,
                               lossPerRow: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>? = nil) {
        Threads.parallelRanges(rows, minChunk: max(1, 16384 / max(1, vocab))) { range in
            for r in range {
                let lr = logits + r * vocab
                let m = Vec.max(lr, vocab)
                let lse = m + Foundation.log(Vec.sumExp(lr, vocab, minus: m))
                logSumExp?[r] = lse
                let t = Int(targets[r])
                precondition(t < vocab, "CrossEntropy: target \(t) out of range for vocabulary \(vocab) in row \(r)")
                lossPerRow[r] = t < 0 ? 0 : lse - lr[t]
            }
        }
    }

    /// dLogits[r] = (softmax(logits[r]) - onehot(target)) · dLoss[r] (dLoss nil means 1 per row),
    /// written. `dLogits` may be `logits` (in place, saving a vocabulary-sized buffer per row).
    public static func backward(logits: UnsafePointer<Float>, rows: Int, vocab: Int, targets: UnsafePointer<Int32>,
                                dLoss: UnsafePointer<Float>?, dLogits: UnsafeMutablePointer<Float>) {
        Threads.parallelRanges(rows, minChunk: max(1, 16384 / max(1, vocab))) { range in
            for r in range {
                let lr = logits + r * vocab, dr = dLogits + r * vocab
                let t = Int(targets[r])
                precondition(t < vocab, "CrossEntropy: target \(t) out of range for vocabulary \(vocab) in row \(r)")
                if t < 0 {
                    dr.update(repeating: 0, count: vocab)
                    continue
                }
                let g = dLoss?[r] ?? 1
                let m = Vec.max(lr, vocab)
                let lse = m + Foundation.log(Vec.sumExp(lr, vocab, minus: m))
                let sh = F8(repeating: lse), gv = F8(repeating: g)
                let target = lr[t]
                var j = 0
                while j + 8 <= vocab {
                    store8(exp8(load8(lr + j) - sh) * gv, dr + j)
                    j += 8
                }
                while j < vocab {
                    dr[j] = exp1(lr[j] - lse) * g
                    j += 1
                }
                dr[t] = exp1(target - lse) * g - g
            }
        }
    }
}
