"""The "Users" page: an administrator adds accounts, disables and enables them,
and hands out temporary passwords, without the command line. Shown only to a
role that may manage users; the operations refuse everyone else anyway.

Passwords are typed into password fields, cleared as soon as they are used and
never listed; the list shows who can sign in, their role and whether they are
locked out.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ketamon.core import ops
from ketamon.core.auth import list_users
from ketamon.core.ops.base import Changes
from ketamon.core.permissions import ROLE_LABELS, ROLE_SUMMARIES, ROLES, Permission
from ketamon.gui.runner import OpRunner, screen_read
from ketamon.gui.signin import password_field
from ketamon.gui.theme import set_role
from ketamon.gui.widgets import MessageLine

COLUMNS = ("User name", "Name", "Role", "Status")


class UsersPage(QWidget):
    def __init__(self, runner: OpRunner, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("usersPage")
        self.runner = runner
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("usersTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._selection_changed)

        # -- add an account
        self.new_name = QLineEdit()
        self.new_name.setObjectName("newDisplayName")
        self.new_name.setPlaceholderText("as it appears on the chart, e.g. Lan Tran RN")
        self.new_username = QLineEdit()
        self.new_username.setObjectName("newUsername")
        self.new_username.setPlaceholderText("e.g. ltran")
        self.new_role = QComboBox()
        self.new_role.setObjectName("newRole")
        for role in ROLES:
            self.new_role.addItem(ROLE_LABELS[role], role)
            self.new_role.setItemData(self.new_role.count() - 1, ROLE_SUMMARIES[role], Qt.ItemDataRole.ToolTipRole)
        self.new_password = password_field("newPassword")
        self.new_must_change = QCheckBox("They choose their own password at first sign-in")
        self.new_must_change.setChecked(True)
        self.add_button = QPushButton("Add user")
        self.add_button.setObjectName("addUserButton")
        set_role(self.add_button, "primary")
        self.add_button.clicked.connect(self.add_user)
        add_box = QGroupBox("Add a user")
        form = QFormLayout(add_box)
        form.addRow("Name", self.new_name)
        form.addRow("User name", self.new_username)
        form.addRow("Role", self.new_role)
        form.addRow("Temporary password", self.new_password)
        form.addRow("", self.new_must_change)
        form.addRow("", self.add_button)

        # -- the selected account
        self.selected_label = QLabel("Choose a user in the list.")
        self.selected_label.setProperty("role", "muted")
        self.reset_password = password_field("resetPassword")
        self.reset_password.setPlaceholderText("new temporary password")
        self.reset_button = QPushButton("Reset password")
        self.reset_button.setObjectName("resetPasswordButton")
        self.reset_button.clicked.connect(self.reset)
        self.disable_button = QPushButton("Disable")
        self.disable_button.setObjectName("disableUserButton")
        self.disable_button.clicked.connect(self.disable)
        self.enable_button = QPushButton("Enable")
        self.enable_button.setObjectName("enableUserButton")
        self.enable_button.clicked.connect(self.enable)
        selected_box = QGroupBox("Selected user")
        sel = QVBoxLayout(selected_box)
        sel.addWidget(self.selected_label)
        row = QHBoxLayout()
        row.addWidget(self.reset_password, 1)
        row.addWidget(self.reset_button)
        sel.addLayout(row)
        row2 = QHBoxLayout()
        row2.addWidget(self.disable_button)
        row2.addWidget(self.enable_button)
        row2.addStretch(1)
        sel.addLayout(row2)

        self.message = MessageLine()
        side = QVBoxLayout()
        side.addWidget(add_box)
        side.addWidget(selected_box)
        side.addWidget(self.message)
        side.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.addWidget(self.table, 3)
        layout.addLayout(side, 2)
        #: listed when first shown, and again when shown after a change: most who
        #: sign in never see this page, and a hidden page does no work
        self._stale = True
        runner.changed.connect(self._on_changed)
        # sign-ins (failed attempts, lock-outs) are not operations: look again for a new user
        runner.actor_changed.connect(lambda _actor: self._reload_when_shown())
        self._selection_changed()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if self._stale:
            self.reload()

    # ------------------------------------------------------------ list

    @screen_read
    def reload(self) -> None:
        self._stale = False
        keep = self.selected_username()
        now = self.runner.store.clock.now()
        users = list_users(self.runner.store)
        self.table.setRowCount(len(users))
        for i, u in enumerate(users):
            status = ["active" if u.active else "disabled"]
            if u.locked_until is not None and u.locked_until > now:
                status.append(f"locked out until {u.locked_until.astimezone():%H:%M}")
            if u.must_change_password:
                status.append("temporary password")
            for col, text in enumerate((u.username, u.display_name, ROLE_LABELS.get(u.role, u.role),
                                        ", ".join(status))):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, u.username)
                self.table.setItem(i, col, item)
        for col in (0, 2, 3):
            self.table.resizeColumnToContents(col)
        if keep:
            self.select(keep)
        self._selection_changed()

    def rows(self) -> list[list[str]]:
        return [[self.table.item(r, c).text() for c in range(len(COLUMNS))] for r in range(self.table.rowCount())]

    def select(self, username: str) -> bool:
        for r in range(self.table.rowCount()):
            if self.table.item(r, 0).text() == username:
                self.table.selectRow(r)
                return True
        return False

    def selected_username(self) -> str | None:
        items = self.table.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def _selection_changed(self) -> None:
        name = self.selected_username()
        for w in (self.reset_password, self.reset_button, self.disable_button, self.enable_button):
            w.setEnabled(name is not None)
        if name is None:
            self.selected_label.setText("Choose a user in the list.")
        else:
            row = self.table.currentRow()
            self.selected_label.setText(f"{self.table.item(row, 1).text()} ({name})")
            active = self.table.item(row, 3).text().startswith("active")
            self.disable_button.setEnabled(active)
            self.enable_button.setEnabled(not active)

    def _on_changed(self, changes: Changes) -> None:
        if changes.users:
            self._reload_when_shown()

    def _reload_when_shown(self) -> None:
        if self.isVisible():
            self.reload()
        else:
            self._stale = True

    # ------------------------------------------------------------ actions

    def _done(self, changes: Changes | None) -> bool:
        if changes is None:
            self.message.show_refusal(self.runner.last_refusal or "refused")
            return False
        self.message.show_ok(changes.message)
        return True

    def add_user(self) -> None:
        password = self.new_password.text()
        self.new_password.clear()
        changes = self.runner.run(ops.add_user, username=self.new_username.text(),
                                  display_name=self.new_name.text(), role=self.new_role.currentData(),
                                  password=password, must_change_password=self.new_must_change.isChecked())
        if self._done(changes):
            username = self.new_username.text().strip().lower()
            self.new_name.clear()
            self.new_username.clear()
            self.select(username)

    def reset(self) -> None:
        name = self.selected_username()
        password = self.reset_password.text()
        self.reset_password.clear()
        if name is not None:
            self._done(self.runner.run(ops.reset_password, name, password))

    def disable(self) -> None:
        name = self.selected_username()
        if name is not None:
            self._done(self.runner.run(ops.disable_user, name))

    def enable(self) -> None:
        name = self.selected_username()
        if name is not None:
            self._done(self.runner.run(ops.enable_user, name))
