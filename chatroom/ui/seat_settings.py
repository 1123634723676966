"""SeatSettingsDialog: one seat's parameter overrides, measured against the room's values.

The panel shows the seat's effective values (room <- overrides) with the room's
as the reference, greys out what the model does not list in its supported
parameters, and shows the percentiles other users send when the endpoint offers
them. Those are fetched by the caller's `recommended_job` through the injected
`run_job` (RoomSession.run_job in the app): a widget starts no task itself.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine, Mapping
from typing import Any, Final

import shiboken6
from PySide6.QtCore import QEvent, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from chatroom.core.catalog import ModelInfo, Recommended
from chatroom.core.errors import ChatroomError
from chatroom.core.params import ParamValue
from chatroom.core.room import describe_overrides, short_label
from chatroom.ui.params_panel import ParamsPanel, unsupported_reason
from chatroom.ui.settings_dialog import RunJob

__all__ = ["LOADING_NOTE", "NOT_OFFERED_NOTE", "SeatSettingsDialog", "describe_model"]

log = logging.getLogger(__name__)

LOADING_NOTE: Final = "Loading recommended values…"
NOT_OFFERED_NOTE: Final = "Recommended values: not offered by this endpoint."
_OFFERED_NOTE: Final = (
    "Recommended values: p10 · p50 · p90 of what other users send to this model."
)
_HINT_STYLE: Final = "color: palette(placeholder-text);"


def _message_of(result: BaseException) -> str:
    """A line for the user; only our own errors' texts are shown (they never hold a key)."""
    if isinstance(result, ChatroomError):
        return str(result)
    log.error("unexpected error while loading recommended values", exc_info=result)
    return f"Unexpected error ({type(result).__name__}); see the log."


def describe_model(model: ModelInfo | None) -> str:
    """One line on what the model takes: its parameters, or why all are sent."""
    if model is None:
        return "Model not in catalogue: all parameters are sent."
    if model.supported_parameters is None:
        return (
            f"{model.endpoint} does not list the supported parameters of {model.id}: "
            "all parameters are sent."
        )
    return (
        f"{model.id} on {model.endpoint}. Greyed-out parameters are not in its "
        "supported parameters and are not sent."
    )


class SeatSettingsDialog(QDialog):
    """Edits one seat's parameter overrides; `overrides()` holds the result after OK.

    The caller stores `overrides()` on the seat. Nothing is applied while the
    dialog is open, and Cancel changes nothing.
    """

    def __init__(
        self,
        label: str,
        model: ModelInfo | None,
        room_values: Mapping[str, ParamValue],
        seat_overrides: Mapping[str, ParamValue],
        recommended_job: Coroutine[Any, Any, Recommended | None] | None,
        run_job: RunJob,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Settings for {label}")
        self._model = model
        self._panel = ParamsPanel()
        self._model_label = QLabel(describe_model(model))
        self._summary_label = QLabel()
        self._clear_button = QPushButton("Clear overrides")
        self._buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self._build(room_values, seat_overrides)
        self._connect()
        self._update_summary()
        self._load_recommended(recommended_job, run_job)

    # -- construction ----------------------------------------------------

    def _build(
        self, room_values: Mapping[str, ParamValue], seat_overrides: Mapping[str, ParamValue]
    ) -> None:
        panel = self._panel
        panel.setAccessibleName("Seat parameters")
        panel.set_system_prompt_visible(False)
        panel.set_base_values(room_values)
        # The seat's effective values, as merge_params sends them (room <- seat).
        panel.set_values({**room_values, **seat_overrides})
        if self._model is not None and self._model.supported_parameters is not None:
            panel.set_supported(self._model.supports, unsupported_reason(short_label(self._model.id)))
        self._model_label.setWordWrap(True)
        self._model_label.setAccessibleName("Model support")
        self._model_label.setStyleSheet(_HINT_STYLE)
        intro = QLabel(
            "Values that differ from the room's are marked “seat” and apply to this seat only."
        )
        intro.setWordWrap(True)
        self._summary_label.setWordWrap(True)
        self._summary_label.setAccessibleName("Seat overrides")
        self._clear_button.setAccessibleName("Clear overrides")
        self._clear_button.setToolTip("Use the room's values for every parameter of this seat")
        self._clear_button.setAutoDefault(False)
        self._buttons.addButton(self._clear_button, QDialogButtonBox.ButtonRole.ResetRole)
        layout = QVBoxLayout(self)
        layout.addWidget(self._model_label)
        layout.addWidget(intro)
        layout.addWidget(panel, 1)
        layout.addWidget(self._summary_label)
        layout.addWidget(self._buttons)
        self.resize(max(440, panel.minimumSizeHint().width() + 24), 680)

    def _connect(self) -> None:
        self._panel.values_changed.connect(self.on_panel_values_changed)
        self._clear_button.clicked.connect(self.on_clear_button_clicked)
        self._buttons.accepted.connect(self.accept)
        self._buttons.rejected.connect(self.reject)

    def _load_recommended(
        self,
        job: Coroutine[Any, Any, Recommended | None] | None,
        run_job: RunJob,
    ) -> None:
        if job is None:
            self._panel.set_recommended(None, NOT_OFFERED_NOTE)
            return
        self._panel.set_recommended(None, LOADING_NOTE)

        def done(result: object) -> None:
            if shiboken6.isValid(self):  # the dialog may be gone when the job ends
                self._on_recommended(result)

        run_job(job, done)

    def _on_recommended(self, result: object) -> None:
        if isinstance(result, Recommended) and result.percentiles:
            self._panel.set_recommended(result.percentiles, _OFFERED_NOTE)
        elif isinstance(result, BaseException):
            self._panel.set_recommended(None, f"{NOT_OFFERED_NOTE} {_message_of(result)}")
        else:
            self._panel.set_recommended(None, NOT_OFFERED_NOTE)

    # -- public API ------------------------------------------------------

    def overrides(self) -> dict[str, ParamValue]:
        """The seat's values that differ from the room's (see ParamsPanel.overrides)."""
        return self._panel.overrides()

    def panel(self) -> ParamsPanel:
        """The parameter controls (seat mode)."""
        return self._panel

    def event(self, event: QEvent) -> bool:
        handled = super().event(event)
        if event.type() == QEvent.Type.LayoutRequest:
            # Word-wrapped notes grow in height; a dialog does not grow by itself.
            needed = self.heightForWidth(self.width())
            if needed > self.height():
                self.resize(self.width(), needed)
        return handled

    # -- internals -------------------------------------------------------

    def _update_summary(self) -> None:
        overrides = self._panel.overrides()
        if overrides:
            text = f"This seat overrides: {describe_overrides(overrides)}"
        else:
            text = "Same as the room: no overrides."
        self._summary_label.setText(text)
        self._clear_button.setEnabled(bool(overrides))

    # -- slots -----------------------------------------------------------

    @Slot()
    def on_panel_values_changed(self) -> None:
        self._update_summary()

    @Slot()
    def on_clear_button_clicked(self) -> None:
        self._panel.reset_all()
