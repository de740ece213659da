"""The headless core: domain model, protocols, rules, operations, exports.

Nothing in this package may import PySide6 or pyqtgraph (tests/test_architecture.py
enforces it), so that rules and operations run and are tested without a display.
"""
