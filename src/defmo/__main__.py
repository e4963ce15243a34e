from defmo.cli import main

raise SystemExit(main())
