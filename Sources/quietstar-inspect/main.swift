/// `quietstar-inspect`: what a .qstar checkpoint holds (see `QuietStarInspect` in Command.swift).
QuietStarInspect.main()
