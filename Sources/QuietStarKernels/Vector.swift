/// Small SIMD building blocks shared by the kernels: loads/stores, reductions with several
/// independent accumulators (a plain `s += a[i] * b[i]` loop neither vectorises nor hides FMA
/// latency), and a vectorised `exp`.
///
/// Everything here is internal, `@inline(__always)`, and works on raw pointers with a scalar tail,
/// so any length is accepted.

typealias F8 = SIMD8<Float>

@inline(__always) func load8(_ p: UnsafePointer<Float>) -> F8 {
    UnsafeRawPointer(p).loadUnaligned(as: F8.self)
}

@inline(__always) func load8(_ p: UnsafeMutablePointer<Float>) -> F8 {
    UnsafeRawPointer(p).loadUnaligned(as: F8.self)
}

@inline(__always) func store8(_ v: F8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: F8.self)
}

/// The lane sums of four accumulators, `((l0+l4)+(l1+l5)) + ((l2+l6)+(l3+l7))` each, folded
/// together in three vector adds (four separate `sum()`s cost about a fifth of a 512-column
/// `LinearTiles` tile). Kernels that promise batch invariance fold every dot product through
/// this one tree, whatever micro-kernel computed it.
@inline(__always)
func fold4(_ a: (F8, F8, F8, F8)) -> SIMD4<Float> {
    let s0 = a.0.lowHalf + a.0.highHalf, s1 = a.1.lowHalf + a.1.highHalf
    let s2 = a.2.lowHalf + a.2.highHalf, s3 = a.3.lowHalf + a.3.highHalf
    let p = SIMD8(lowHalf: s0, highHalf: s1), q = SIMD8(lowHalf: s2, highHalf: s3)
    let r = SIMD8(lowHalf: p.evenHalf + p.oddHalf, highHalf: q.evenHalf + q.oddHalf)
    return r.evenHalf + r.oddHalf
}

enum Vec {
    /// Σ a[i]·b[i] with four SIMD8 accumulators (32 floats per iteration).
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var s0 = F8(), s1 = F8(), s2 = F8(), s3 = F8()
        var i = 0
        while i + 32 <= n {
            s0 = s0.addingProduct(load8(a + i), load8(b + i))
            s1 = s1.addingProduct(load8(a + i + 8), load8(b + i + 8))
            s2 = s2.addingProduct(load8(a + i + 16), load8(b + i + 16))
            s3 = s3.addingProduct(load8(a + i + 24), load8(b + i + 24))
            i += 32
        }
        while i + 8 <= n {
            s0 = s0.addingProduct(load8(a + i), load8(b + i))
            i += 8
        }
        var s = ((s0 + s1) + (s2 + s3)).sum()
        while i < n {
            s += a[i] * b[i]
            i += 1
        }
        return s
    }

    /// Σ a[i]².
    @inline(__always)
    static func sumOfSquares(_ a: UnsafePointer<Float>, _ n: Int) -> Float {
        var s0 = F8(), s1 = F8(), s2 = F8(), s3 = F8()
        var i = 0
        while i + 32 <= n {
            let v0 = load8(a + i), v1 = load8(a + i + 8), v2 = load8(a + i + 16), v3 = load8(a + i + 24)
            s0 = s0.addingProduct(v0, v0)
            s1 = s1.addingProduct(v1, v1)
            s2 = s2.addingProduct(v2, v2)
            s3 = s3.addingProduct(v3, v3)
            i += 32
        }
        while i + 8 <= n {
            let v = load8(a + i)
            s0 = s0.addingProduct(v, v)
            i += 8
        }
        var s = ((s0 + s1) + (s2 + s3)).sum()
        while i < n {
            s += a[i] * a[i]
            i += 1
        }
        return s
    }

    /// y[i] += alpha · x[i].
    @inline(__always)
    static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        let a = F8(repeating: alpha)
        var i = 0
        while i + 8 <= n {
            store8(load8(y + i).addingProduct(a, load8(x + i)), y + i)
            i += 8
        }
        while i < n {
            y[i] += alpha * x[i]
            i += 1
        }
    }

    /// x[i] *= alpha.
    @inline(__always)
    static func scale(_ x: UnsafeMutablePointer<Float>, _ alpha: Float, _ n: Int) {
        let a = F8(repeating: alpha)
        var i = 0
        while i + 8 <= n {
            store8(load8(x + i) * a, x + i)
            i += 8
        }
        while i < n {
            x[i] *= alpha
            i += 1
        }
    }

    /// y[i] += x[i].
    @inline(__always)
    static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n {
            store8(load8(y + i) + load8(x + i), y + i)
            i += 8
        }
        while i < n {
            y[i] += x[i]
            i += 1
        }
    }

    /// max over a[0..<n] (n >= 1). NaN inputs propagate as NaN.
    @inline(__always)
    static func max(_ a: UnsafePointer<Float>, _ n: Int) -> Float {
        var m = F8(repeating: -.infinity)
        var i = 0
        var sawNaN = false
        while i + 8 <= n {
            let v = load8(a + i)
            sawNaN = sawNaN || any(v .!= v)
            m = m.replacing(with: v, where: v .> m)
            i += 8
        }
        var r = m.max()
        while i < n {
            sawNaN = sawNaN || a[i].isNaN
            if a[i] > r { r = a[i] }
            i += 1
        }
        return sawNaN ? .nan : r
    }

    /// Σ exp(a[i] - shift), without storing the exponentials.
    @inline(__always)
    static func sumExp(_ a: UnsafePointer<Float>, _ n: Int, minus shift: Float) -> Float {
        let sh = F8(repeating: shift)
        var s0 = F8(), s1 = F8()
        var i = 0
        while i + 16 <= n {
            s0 += exp8(load8(a + i) - sh)
            s1 += exp8(load8(a + i + 8) - sh)
            i += 16
        }
        while i + 8 <= n {
            s0 += exp8(load8(a + i) - sh)
            i += 8
        }
        var s = (s0 + s1).sum()
        while i < n {
            s += exp1(a[i] - shift)
            i += 1
        }
        return s
    }

    /// a[i] = exp(a[i] - shift); returns Σ of the new values.
    @inline(__always)
    static func expInPlace(_ a: UnsafeMutablePointer<Float>, _ n: Int, minus shift: Float) -> Float {
        let sh = F8(repeating: shift)
        var s0 = F8()
        var i = 0
        while i + 8 <= n {
            let e = exp8(load8(a + i) - sh)
            store8(e, a + i)
            s0 += e
            i += 8
        }
        var s = s0.sum()
        while i < n {
            let e = exp1(a[i] - shift)
            a[i] = e
            s += e
            i += 1
        }
        return s
    }
}

// MARK: - exp

/// Vectorised e^x for eight lanes (Cephes `expf` scheme): x = n·ln2 + r with |r| <= ln2/2, a
/// degree-6 polynomial for e^r, and 2^n built in the exponent bits. Max error about 2 ulp over
/// the normal range (checked against `Foundation.exp` in the tests). e^x underflows to exactly 0
/// below -87.33 (so masked `-inf` scores give 0, not a denormal), overflows to +inf above 88.72,
/// and NaN stays NaN.
@inline(__always)
func exp8(_ x: F8) -> F8 {
    let hi = F8(repeating: 88.72283), lo = F8(repeating: -87.33654)
    // Clamp, and send NaN lanes through as 0 (they are restored at the end).
    var xc = x.replacing(with: hi, where: x .> hi).replacing(with: lo, where: x .< lo)
    xc = xc.replacing(with: 0, where: x .!= x)
    // n = round(x / ln 2) by the 1.5·2^23 trick: adding it rounds to an integer (ties to even)
    // that then sits in the low mantissa bits, so no float -> int conversion (with its range
    // checks) is needed. r = x - n·ln 2 with ln 2 split in two for exactness.
    let magic = F8(repeating: 12582912)
    let t = magic.addingProduct(xc, F8(repeating: 1.442695040888963))
    let n = t - magic
    var r = xc.addingProduct(n, F8(repeating: -0.693359375))
    r = r.addingProduct(n, F8(repeating: 2.12194440e-4))
    var p = F8(repeating: 1.3981999507e-3).addingProduct(F8(repeating: 1.9875691500e-4), r)
    p = F8(repeating: 8.3334519073e-3).addingProduct(p, r)
    p = F8(repeating: 4.1665795894e-2).addingProduct(p, r)
    p = F8(repeating: 1.6666665459e-1).addingProduct(p, r)
    p = F8(repeating: 5.0000001201e-1).addingProduct(p, r)
    let r2 = r * r
    let er = (r + 1).addingProduct(p, r2)
    // 2^n in the exponent field, as 2^(n/2)·2^(n - n/2): n reaches 128 near the top of the range,
    // one more than a single exponent field holds.
    let n0 = unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000
    let n1 = n0 &>> 1
    let scale1 = unsafeBitCast((n1 &+ 127) &<< 23, to: F8.self)
    let scale2 = unsafeBitCast((n0 &- n1 &+ 127) &<< 23, to: F8.self)
    var result = er * scale1 * scale2
    result = result.replacing(with: 0, where: x .< lo)
    result = result.replacing(with: .infinity, where: x .> hi)
    result = result.replacing(with: x, where: x .!= x)
    return result
}

/// Scalar e^x with the same polynomial, so tails of vectorised loops agree with their bodies.
@inline(__always)
func exp1(_ x: Float) -> Float {
    exp8(F8(repeating: x))[0]
}
