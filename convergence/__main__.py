from convergence.cli.main import main

raise SystemExit(main())
