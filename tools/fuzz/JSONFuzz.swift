// libFuzzer entry for the JSON reader (tools/fuzz/run-fuzz json); the checks are in
// Tests/QuietStarJSONTests/JSONExercise.swift, compiled into the JSON module with -D QSTAR_FUZZ.
@_cdecl("LLVMFuzzerTestOneInput")
public func jsonFuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    JSONExercise.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
