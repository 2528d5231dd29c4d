from samwidgets.cli import main

raise SystemExit(main())
