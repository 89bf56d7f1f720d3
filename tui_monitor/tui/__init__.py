"""The dashboard: a Textual app over the one view interface (tui_monitor.view). Only this package
imports Textual and Rich; the engine and the command line never do."""
