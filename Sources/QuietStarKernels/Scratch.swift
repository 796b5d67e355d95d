/// Reusable working memory for kernels: numbered slots that grow on demand and never shrink, so a
/// steady-state caller (one decode step after another) allocates nothing.
///
/// A `Scratch` belongs to one caller at a time (one engine, one thread); it is not locked. Kernels
/// use slots below `reservedSlots` (each documents which); callers keep their own buffers in
/// higher slots. A pointer stays valid until the same slot is asked for again with a larger count,
/// or the `Scratch` is released, so a caller must not hold a kernel slot's pointer across a
/// kernel call.
public final class Scratch {
    /// Slots `0..<reservedSlots` belong to the kernels.
    public static let reservedSlots = 4

    private var slots: [(pointer: UnsafeMutableRawPointer, bytes: Int)] = []

    public init() {}

    deinit {
        for slot in slots { slot.pointer.deallocate() }
    }

    /// At least `count` floats in slot `slot`, 64-byte aligned; contents are unspecified.
    public func floats(_ count: Int, slot: Int) -> UnsafeMutablePointer<Float> {
        bytes(count * MemoryLayout<Float>.stride, slot: slot).bindMemory(to: Float.self, capacity: max(count, 1))
    }

    /// At least `count` bytes in slot `slot`, 64-byte aligned; contents are unspecified.
    public func bytes(_ count: Int, slot: Int) -> UnsafeMutableRawPointer {
        precondition(count >= 0 && slot >= 0, "Scratch: negative size or slot")
        while slots.count <= slot {
            slots.append((UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64), 64))
        }
        if slots[slot].bytes < count {
            slots[slot].pointer.deallocate()
            // Grow geometrically so a slowly growing sequence length costs O(log n) reallocations.
            let bytes = max(count, slots[slot].bytes * 3 / 2)
            slots[slot] = (UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64), bytes)
        }
        return slots[slot].pointer
    }

    /// Total bytes held (for diagnostics and memory budgets).
    public var capacityBytes: Int { slots.reduce(0) { $0 + $1.bytes } }
}
