/// `quietstar-run`: generation and scoring over line streams (see `QuietStarRun` in Commands.swift).
QuietStarRun.main()
