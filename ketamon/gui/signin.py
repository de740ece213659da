"""Signing in at the workstation: the sign-in dialog, the first-run "create the
administrator" dialog, choosing a new password after a reset, and switching user.

These dialogs call ops.sign_in / ops.create_first_admin / ops.change_password
directly: nobody is signed in yet, so there is no OpRunner actor to run them as.
Everything else goes through OpRunner.run as usual. A password is never logged,
never kept after the dialog closes and never shown.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ketamon.core import ops
from ketamon.core.auth import AuthPolicy, needs_first_admin
from ketamon.core.errors import KetamonError
from ketamon.core.ops.users import SignedIn
from ketamon.core.permissions import Actor
from ketamon.core.store import Store
from ketamon.gui.runner import OpRunner
from ketamon.gui.theme import set_role


#: property of the dialogs here: they show no patient data, so the screen lock
#: (ketamon.gui.lock) neither covers them nor blocks their input
ACCESS_DIALOG = "ketamonAccessDialog"


def _title(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("dialogTitle")
    return label


def _note(text: str, name: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setProperty("role", "muted")
    if name:
        label.setObjectName(name)
    return label


def password_field(name: str) -> QLineEdit:
    edit = QLineEdit()
    edit.setObjectName(name)
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    # no copying out of a password box, no input-method history
    edit.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
    edit.setAttribute(Qt.WidgetAttribute.WA_InputMethodEnabled, False)
    return edit


class ProblemLine(QLabel):
    """Why the last attempt failed (muted brick); empty and hidden otherwise."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("signInProblem")
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.clear_problem()

    def show_problem(self, text: str) -> None:
        set_role(self, "refusal")
        self.setText(text)
        self.setVisible(True)

    def clear_problem(self) -> None:
        self.setText("")
        self.setVisible(False)


class SignInDialog(QDialog):
    """User name and password. After it is accepted `signed_in` holds who signed in.

    `purpose` is "sign_in" at start and "switch" when someone takes over a
    workstation; both are written to the audit trail as a sign-in."""

    def __init__(self, store: Store, parent: QWidget | None = None, *, purpose: str = "sign_in",
                 title: str = "Sign in to ketamon", intro: str | None = None, username: str = "",
                 password: str = "", hint: str | None = None, policy: AuthPolicy | None = None):
        super().__init__(parent)
        self.setObjectName("signInDialog")
        self.setProperty(ACCESS_DIALOG, True)  # shows no patient data: usable over the lock
        self.setWindowTitle(title)
        self.setModal(True)
        self.store, self.purpose, self.policy = store, purpose, policy
        self.signed_in: SignedIn | None = None

        self.username = QLineEdit(username)
        self.username.setObjectName("username")
        self.username.setAccessibleName("User name")
        self.password = password_field("password")
        self.password.setAccessibleName("Password")
        self.password.setText(password)
        self.problem = ProblemLine()
        self.sign_in_button = QPushButton("Sign in")
        self.sign_in_button.setObjectName("signInButton")
        set_role(self.sign_in_button, "primary")
        self.sign_in_button.setDefault(True)
        self.sign_in_button.clicked.connect(self.attempt)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.reject)

        form = QFormLayout()
        form.addRow("User name", self.username)
        form.addRow("Password", self.password)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.sign_in_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(22, 18, 22, 18)
        layout.setSpacing(10)
        layout.addWidget(_title(title))
        if intro:
            layout.addWidget(_note(intro, "signInIntro"))
        layout.addLayout(form)
        layout.addWidget(self.problem)
        if hint:
            layout.addWidget(_note(hint, "signInHint"))
        layout.addLayout(buttons)
        self.setMinimumWidth(420)
        (self.password if username else self.username).setFocus(Qt.FocusReason.OtherFocusReason)

    def attempt(self) -> None:
        """Check the password; on failure say why, empty the password, keep the name."""
        name = self.username.text().strip()
        if not name:
            self.problem.show_problem("Enter your user name.")
            self.username.setFocus()
            return
        if not self.password.text():
            self.problem.show_problem("Enter your password.")
            self.password.setFocus()
            return
        try:
            signed = ops.sign_in(self.store, name, self.password.text(), purpose=self.purpose,
                                 policy=self.policy)
        except KetamonError as exc:
            self.password.clear()
            self.problem.show_problem(str(exc))
            self.password.setFocus()
            return
        if signed.actor.role == "service":  # print/export from the command line only, never the app
            ops.sign_out(self.store, signed.actor, reason="service account: command line only")
            self.password.clear()
            self.problem.show_problem(f"{signed.actor.username} is a service account: it prints and exports "
                                      "from the command line only and cannot sign in to the app.")
            return
        if signed.must_change_password and not ask_new_password(self.store, signed.actor, self.password.text(),
                                                                self):
            ops.sign_out(self.store, signed.actor, reason="did not choose a new password")
            self.password.clear()
            self.problem.show_problem("A new password is needed before you can continue.")
            return
        self.password.clear()
        self.signed_in = signed
        self.accept()


class FirstAdminDialog(QDialog):
    """First run on an empty database: create the administrator, who then adds
    everyone else. After it is accepted `signed_in` holds the new administrator."""

    def __init__(self, store: Store, parent: QWidget | None = None, *, policy: AuthPolicy | None = None):
        super().__init__(parent)
        self.setObjectName("firstAdminDialog")
        self.setProperty(ACCESS_DIALOG, True)  # shows no patient data: usable over the lock
        self.setWindowTitle("Create the administrator account")
        self.setModal(True)
        self.store, self.policy = store, policy
        self.signed_in: SignedIn | None = None
        self.display_name = QLineEdit()
        self.display_name.setObjectName("displayName")
        self.display_name.setPlaceholderText("e.g. Jordan Lee")
        self.username = QLineEdit()
        self.username.setObjectName("username")
        self.username.setPlaceholderText("e.g. jlee")
        self.password = password_field("password")
        self.repeat = password_field("repeat")
        self.problem = ProblemLine()
        self.create_button = QPushButton("Create and sign in")
        self.create_button.setObjectName("createButton")
        set_role(self.create_button, "primary")
        self.create_button.setDefault(True)
        self.create_button.clicked.connect(self.attempt)
        self.cancel_button = QPushButton("Quit")
        self.cancel_button.clicked.connect(self.reject)

        form = QFormLayout()
        form.addRow("Your name", self.display_name)
        form.addRow("User name", self.username)
        form.addRow("Password", self.password)
        form.addRow("Password again", self.repeat)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.create_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(22, 18, 22, 18)
        layout.setSpacing(10)
        layout.addWidget(_title("Create the administrator account"))
        layout.addWidget(_note(
            "This ketamon database has no accounts yet. Create the account of the person who manages "
            "users. The administrator adds nurses, physicians and front-desk staff, and does not chart."))
        layout.addLayout(form)
        layout.addWidget(_note("At least 8 characters. Choose one you do not use anywhere else."))
        layout.addWidget(self.problem)
        layout.addLayout(buttons)
        self.setMinimumWidth(480)
        self.display_name.setFocus(Qt.FocusReason.OtherFocusReason)

    def attempt(self) -> None:
        if self.password.text() != self.repeat.text():
            self.repeat.clear()
            self.problem.show_problem("The two passwords differ. Type the password again.")
            self.repeat.setFocus()
            return
        try:
            actor = ops.create_first_admin(self.store, username=self.username.text(),
                                           display_name=self.display_name.text(), password=self.password.text())
            self.signed_in = ops.sign_in(self.store, actor.username, self.password.text(), policy=self.policy)
        except KetamonError as exc:
            self.problem.show_problem(str(exc))
            return
        self.password.clear()
        self.repeat.clear()
        self.accept()


class ChangePasswordDialog(QDialog):
    """Choose a new password: after an administrator's reset, or any time.
    `current` given (just typed at sign-in) means it is not asked for again."""

    def __init__(self, store: Store, actor: Actor, parent: QWidget | None = None, *, current: str | None = None,
                 reason: str | None = None):
        super().__init__(parent)
        self.setObjectName("changePasswordDialog")
        self.setProperty(ACCESS_DIALOG, True)  # shows no patient data: usable over the lock
        self.setWindowTitle("Choose a new password")
        self.setModal(True)
        self.store, self.actor, self._current = store, actor, current
        self.current = password_field("currentPassword")
        self.new = password_field("newPassword")
        self.repeat = password_field("repeat")
        self.problem = ProblemLine()
        self.ok_button = QPushButton("Save new password")
        self.ok_button.setObjectName("savePasswordButton")
        set_role(self.ok_button, "primary")
        self.ok_button.setDefault(True)
        self.ok_button.clicked.connect(self.attempt)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.reject)
        form = QFormLayout()
        if current is None:
            form.addRow("Current password", self.current)
        else:  # just typed at sign-in: not asked again
            self.current.setParent(self)
            self.current.hide()
        form.addRow("New password", self.new)
        form.addRow("New password again", self.repeat)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.ok_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(22, 18, 22, 18)
        layout.setSpacing(10)
        layout.addWidget(_title("Choose a new password"))
        layout.addWidget(_note(reason or f"{actor.display_name}: at least 8 characters."))
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addLayout(buttons)
        self.setMinimumWidth(440)
        (self.new if current is not None else self.current).setFocus(Qt.FocusReason.OtherFocusReason)

    def attempt(self) -> None:
        if self.new.text() != self.repeat.text():
            self.repeat.clear()
            self.problem.show_problem("The two new passwords differ. Type the new password again.")
            self.repeat.setFocus()
            return
        current = self._current if self._current is not None else self.current.text()
        try:
            ops.change_password(self.store, self.actor, current, self.new.text())
        except KetamonError as exc:
            self.problem.show_problem(str(exc))
            return
        for field in (self.current, self.new, self.repeat):
            field.clear()
        self._current = None
        self.accept()


def ask_new_password(store: Store, actor: Actor, current: str, parent: QWidget | None = None) -> bool:
    """After an administrator's reset: the user must choose their own password now."""
    dialog = ChangePasswordDialog(store, actor, parent, current=current,
                                  reason=f"{actor.display_name}: your password was reset by an administrator. "
                                         "Choose your own (at least 8 characters) to continue.")
    try:
        return dialog.exec() == QDialog.DialogCode.Accepted
    finally:
        dialog.deleteLater()


def demo_hint() -> str:
    from ketamon.core.demo import DEMO_USERS

    from ketamon.core.permissions import ROLE_LABELS

    return "Demo accounts (user name / password):\n" + "\n".join(
        f"{u} / {p}  ({ROLE_LABELS[r]})" for u, _n, r, p in DEMO_USERS)


def sign_in_at_start(store: Store, parent: QWidget | None = None, *, demo: bool = False,
                     policy: AuthPolicy | None = None) -> Actor | None:
    """The first thing the app shows: the administrator set-up on an empty
    database, else the sign-in dialog (prefilled with the demo nurse in demo mode;
    still a real sign-in). None when the person cancels (the app then quits)."""
    if needs_first_admin(store):
        dialog: QDialog = FirstAdminDialog(store, parent, policy=policy)
    elif demo:
        from ketamon.core.demo import DEMO_USERS

        username, _name, _role, password = DEMO_USERS[0]
        dialog = SignInDialog(store, parent, username=username, password=password, hint=demo_hint(),
                              intro="Demo data: press Enter to sign in as the demo nurse.", policy=policy)
    else:
        dialog = SignInDialog(store, parent, policy=policy)
    try:
        if dialog.exec() != QDialog.DialogCode.Accepted or dialog.signed_in is None:
            return None
        return dialog.signed_in.actor
    finally:
        dialog.deleteLater()


def switch_user(runner: OpRunner, parent: QWidget | None = None, *,
                policy: AuthPolicy | None = None) -> Actor | None:
    """Someone else takes over this workstation. What is typed but not saved stays
    on screen; from now on every entry is recorded as the new user's. None when
    the dialog is cancelled (the current user stays signed in)."""
    old = runner.actor
    dialog = make_switch_dialog(runner, parent, policy=policy)
    try:
        if dialog.exec() != QDialog.DialogCode.Accepted or dialog.signed_in is None:
            return None
        return take_over(runner, dialog.signed_in.actor, old)
    finally:
        dialog.deleteLater()


def make_switch_dialog(runner: OpRunner, parent: QWidget | None = None, *,
                       policy: AuthPolicy | None = None) -> SignInDialog:
    old = runner.actor
    intro = (f"{old.display_name} ({old.role_label}) is signed in. Sign in as yourself to take over; "
             "anything typed but not saved stays on screen and is saved under your name."
             if old is not None else None)
    return SignInDialog(runner.store, parent, purpose="switch", title="Switch user", intro=intro, policy=policy)


def take_over(runner: OpRunner, new: Actor, old: Actor | None) -> Actor:
    """Record the previous user's sign-out and make `new` the acting user."""
    if old is not None and old.user_id != new.user_id:
        runner.run(ops.sign_out, reason=f"switched user to {new.username}")
    runner.set_actor(new)
    return new
