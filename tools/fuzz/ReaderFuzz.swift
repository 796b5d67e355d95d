// libFuzzer entry for the .qstar reader.
//
// Built by tools/fuzz/run-reader-fuzz: this file and Tests/QuietStarFormatTests/ReaderExercise.swift
// (the checks, which the test suite also runs over the committed corpus) are compiled together
// with the sources of Sources/QuietStarFormat into one module, so the reader is called exactly
// as a user would call it (only public API).

@_cdecl("LLVMFuzzerTestOneInput")
public func readerFuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    ReaderExercise.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
