// libFuzzer entry for the GGUF reader.
//
// Built by tools/fuzz/run-gguf-fuzz: this file and Tests/QuietStarGGUFTests/GGUFExercise.swift
// (the checks, which the test suite also runs over tools/fuzz/corpus-gguf/) are compiled into
// the GGUF module with its sources, so the reader is called as a user would call it.

@_cdecl("LLVMFuzzerTestOneInput")
public func ggufFuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    GGUFExercise.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
