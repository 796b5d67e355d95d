// libFuzzer entry for the trainer's data reader (tools/fuzz/run-fuzz training); the checks are in
// Tests/QuietStarTrainingTests/TrainingDataExercise.swift, compiled into the training module with -D QSTAR_FUZZ.
@_cdecl("LLVMFuzzerTestOneInput")
public func trainingDataFuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    TrainingDataExercise.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
