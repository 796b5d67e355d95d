// libFuzzer entry for the safetensors reader and HF config mapping (tools/fuzz/run-fuzz safetensors); the checks are in
// Tests/QuietStarJSONTests/SafetensorsExercise.swift, compiled into the interop module with -D QSTAR_FUZZ.
@_cdecl("LLVMFuzzerTestOneInput")
public func safetensorsFuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    SafetensorsExercise.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
