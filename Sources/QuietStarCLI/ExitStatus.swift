/// Exit statuses shared by every QuietStar tool, so scripts can tell failures apart the same way
/// whichever tool they call. The 64+ values follow BSD `sysexits.h`.
public enum ExitStatus: Int32, Sendable, CaseIterable {
    /// Everything requested was done.
    case success = 0
    /// The tool ran to the end but some input lines failed; each has an error record in the output.
    case someLinesFailed = 1
    /// `--verify` found damaged data: a checksum did not match.
    case checksumMismatch = 3
    /// The command line was wrong (unknown flag, bad value, missing argument).
    case usage = 64
    /// An input file exists but is not valid (corrupt or hostile checkpoint, bad config).
    case invalidInput = 65
    /// An input file does not exist or cannot be opened.
    case missingInput = 66
    /// An internal error: a bug in QuietStar. Please report it.
    case internalError = 70
    /// The output could not be created (permissions, disk full, missing directory).
    case cannotCreateOutput = 73
    /// Reading or writing failed part way (I/O error, broken pipe).
    case ioError = 74

    /// One line per status, for `--help` texts.
    public static var helpText: String {
        """
        Exit status:
          0   success
          1   some input lines failed (each has an error record in the output)
          3   a checksum did not match (--verify)
          64  usage error
          65  invalid input file (corrupt checkpoint, bad config)
          66  input file missing or unreadable
          70  internal error (a bug: please report it)
          73  cannot create the output file
          74  I/O error while reading or writing
        """
    }
}
