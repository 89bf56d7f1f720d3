from tui_monitor.cli import main

raise SystemExit(main())
