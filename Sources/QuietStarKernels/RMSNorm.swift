/// Root-mean-square normalisation per row: `y = x / sqrt(mean(x²) + eps) * weight`, computed in
/// f32 as Hugging Face's `LlamaRMSNorm` does.
public enum RMSNorm {
    /// `x`, `out`: `rows x dim` (may be the same buffer). Saves `rstd[row] = 1/sqrt(mean(x²)+eps)`
    /// when given, for `backward`.
    public static func forward(x: UnsafePointer<Float>, rows: Int, dim: Int, weight: UnsafePointer<Float>,
                               eps: Float, out: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>?) {
        Threads.parallelRanges(rows, minChunk: max(1, 16384 / max(1, dim))) { range in
            for r in range {
                let xr = x + r * dim, yr = out + r * dim
                let s = 1 / (Vec.sumOfSquares(xr, dim) / Float(dim) + eps).squareRoot()
                rstd?[r] = s
                let sv = F8(repeating: s)
                var j = 0
                while j + 8 <= dim {
                    store8(load8(xr + j) * sv * load8(weight + j), yr + j)
                    j += 8
                }
                while j < dim {
                    yr[j] = xr[j] * s * weight[j]
                    j += 1
                }
            }
        }
    }

    /// With `g = weight ⊙ dy` and `r = rstd`:
    /// `dx = r · (g - x · r² · mean(g ⊙ x))` (written, or added when `accumulateDx`), and
    /// `dWeight[j] += Σ_rows dy[j] · x[j] · r`. `dx` may alias `dy` when not accumulating.
    public static func backward(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows: Int, dim: Int,
                                weight: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                                dx: UnsafeMutablePointer<Float>, accumulateDx: Bool = false,
                                dWeight: UnsafeMutablePointer<Float>?) {
        // dWeight first: when dx aliases dy, the row pass below overwrites dy. Columns are split
        // between workers so that no two write the same dWeight entry.
        if let dWeight {
            Threads.parallelRanges(dim, minChunk: 256) { cols in
                for r in 0..<rows {
                    let s = F8(repeating: rstd[r])
                    let dyr = dy + r * dim, xr = x + r * dim
                    var j = cols.lowerBound
                    while j + 8 <= cols.upperBound {
                        store8(load8(dWeight + j).addingProduct(load8(dyr + j) * load8(xr + j), s), dWeight + j)
                        j += 8
                    }
                    while j < cols.upperBound {
                        dWeight[j] += dyr[j] * xr[j] * rstd[r]
                        j += 1
                    }
                }
            }
        }
        Threads.parallelRanges(rows, minChunk: max(1, 16384 / max(1, dim))) { range in
            for r in range {
                let dyr = dy + r * dim, xr = x + r * dim, dxr = dx + r * dim
                let s = rstd[r]
                // Σ (w ⊙ dy) ⊙ x, four accumulators.
                var a0 = F8(), a1 = F8()
                var j = 0
                while j + 16 <= dim {
                    a0 = a0.addingProduct(load8(weight + j) * load8(dyr + j), load8(xr + j))
                    a1 = a1.addingProduct(load8(weight + j + 8) * load8(dyr + j + 8), load8(xr + j + 8))
                    j += 16
                }
                var dot = (a0 + a1).sum()
                while j < dim {
                    dot += weight[j] * dyr[j] * xr[j]
                    j += 1
                }
                let c = F8(repeating: -s * s * s * dot / Float(dim))
                let sv = F8(repeating: s)
                j = 0
                while j + 8 <= dim {
                    var g = (load8(weight + j) * load8(dyr + j) * sv).addingProduct(load8(xr + j), c)
                    if accumulateDx { g += load8(dxr + j) }
                    store8(g, dxr + j)
                    j += 8
                }
                while j < dim {
                    let g = weight[j] * dyr[j] * s + xr[j] * c[0]
                    dxr[j] = accumulateDx ? dxr[j] + g : g
                    j += 1
                }
            }
        }
    }
}
