// libFuzzer entry for the tokenizer (tools/fuzz/run-fuzz tokenizer); the checks are in
// Tests/QuietStarTokenizerTests/TokenizerExercise.swift, compiled into the tokenizer module with -D QSTAR_FUZZ.
@_cdecl("LLVMFuzzerTestOneInput")
public func tokenizerFuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    TokenizerExercise.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
