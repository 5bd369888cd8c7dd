from dvx.cli import main

raise SystemExit(main())
