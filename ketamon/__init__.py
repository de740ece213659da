"""ketamon — session monitoring for supervised ketamine and esketamine treatment.

`ketamon.core` is the headless core (no Qt); `ketamon.gui` is the PySide6 shell.
"""

__version__ = "0.1.0"
