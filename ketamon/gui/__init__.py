"""The PySide6 shell over ketamon.core. Widgets change data only through
ketamon.core.ops (via gui.runner.OpRunner) and refresh from the Changes it emits."""
