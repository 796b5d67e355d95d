import Foundation

// The standard library's `withUnsafeBytes` family rethrows untyped errors, which would turn
// every typed `InteropError` into `any Error`. These wrappers carry the error type through.

/// `array.withUnsafeBytes(body)`, keeping `body`'s error type.
func withBytes<R, E: Error>(of array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
    let result: Result<R, E> = array.withUnsafeBytes { raw in
        do throws(E) { return .success(try body(raw)) } catch { return .failure(error) }
    }
    return try result.get()
}

/// `data.withUnsafeBytes(body)`, keeping `body`'s error type.
func withBytes<R, E: Error>(of data: Data, _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
    let result: Result<R, E> = data.withUnsafeBytes { raw in
        do throws(E) { return .success(try body(raw)) } catch { return .failure(error) }
    }
    return try result.get()
}

/// `array.withUnsafeMutableBufferPointer(body)`, keeping `body`'s error type.
func withMutableFloats<R, E: Error>(_ array: inout [Float], _ body: (UnsafeMutableBufferPointer<Float>) throws(E) -> R) throws(E) -> R {
    let result: Result<R, E> = array.withUnsafeMutableBufferPointer { buffer in
        do throws(E) { return .success(try body(buffer)) } catch { return .failure(error) }
    }
    return try result.get()
}
