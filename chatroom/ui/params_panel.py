"""ParamsPanel: a control for every sampling parameter, generated from params.SPECS.

Each numeric parameter gets a header line (its API name, bold once changed,
its default in small grey, an "on" box for parameters that are off by
default, a reset button) and a slider bound to a spin box. The spin box takes
the whole accepted range; the slider covers the useful part of it
(`slider_low`..`slider_high`) and sits at its end when the spin box goes
beyond. Below them: the stop sequences, one per line, and the system prompt.
Nothing here is hand-listed: a new row in SPECS gets its controls for free.

Three optional layers serve the seat settings: `set_supported` greys out what
a model does not take (and keeps it out of `values()`), `set_recommended`
shows the percentiles other users send (p10 · p50 · p90) and can apply the
p50s, and `set_base_values` turns the panel into a seat's view: the room's
values are the reference, and `overrides()` returns what differs from them.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Final

from PySide6.QtCore import QEvent, QObject, Qt, Signal, Slot
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from chatroom.core.errors import ParameterError
from chatroom.core.params import (
    MAX_STOP_SEQUENCES,
    SPECS,
    STOP_KEY,
    ParamSpec,
    ParamValue,
    validate_param,
)

__all__ = [
    "NOT_SUPPORTED_REASON",
    "ParamsPanel",
    "Percentiles",
    "format_number",
    "parse_stop_text",
    "stop_text",
    "unsupported_reason",
]

log = logging.getLogger(__name__)

# QSpinBox and QSlider hold a C int: parameters with a wider (or no) bound
# are cut to this range in the widgets.
_INT_MIN: Final = -(2**31)
_INT_MAX: Final = 2**31 - 1
_ERROR_STYLE: Final = "color: #b3261e;"
_HINT_STYLE: Final = "color: palette(placeholder-text);"
_ESCAPES: Final = {"n": "\n", "t": "\t", "\\": "\\"}
_SEAT_STYLE: Final = "color: palette(link); font-weight: bold;"

#: p10, p50, p90 of the values other users send for one parameter.
Percentiles = tuple[float, float, float]

#: The tooltip of an unsupported parameter when the caller gives no reason;
#: `{key}` becomes the parameter's name.
NOT_SUPPORTED_REASON: Final = (
    "This model does not list {key} in its supported parameters; it is not sent."
)


def unsupported_reason(model: str) -> str:
    """The `reason` template for set_supported: '<model> does not list {key} …'."""
    return f"{model} does not list {{key}} in its supported parameters; it is not sent."


def _reason_for(reason: str, key: str) -> str:
    """`reason` with `{key}` replaced (a plain replace: the text may hold other braces)."""
    return (reason or NOT_SUPPORTED_REASON).replace("{key}", key)


def format_number(spec: ParamSpec, value: float) -> str:
    """`value` as the spin box shows it, without trailing zeros (1.0, 0.05, 200)."""
    if spec.kind is int:
        return str(int(value))
    text = f"{value:.{spec.decimals}f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _unescape(line: str) -> str:
    r"""`\n`, `\t` and `\\` typed literally become newline, tab and backslash."""
    out: list[str] = []
    index = 0
    while index < len(line):
        char = line[index]
        following = line[index + 1 : index + 2]
        if char == "\\" and following in _ESCAPES:
            out.append(_ESCAPES[following])
            index += 2
        else:  # any other backslash stays as typed
            out.append(char)
            index += 1
    return "".join(out)


def _escape(sequence: str) -> str:
    return sequence.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")


def parse_stop_text(text: str) -> list[str]:
    r"""Every stop sequence in `text`: one per non-blank line, with `\n`/`\t` unescaped.

    Lines are kept as typed otherwise (a leading space can matter); blank
    lines are skipped. The list is not cut to MAX_STOP_SEQUENCES.
    """
    return [_unescape(line) for line in text.split("\n") if line.strip()]


def stop_text(sequences: list[str]) -> str:
    """The editor text for `sequences`; parse_stop_text(stop_text(s)) == s."""
    return "\n".join(_escape(s) for s in sequences)


@contextlib.contextmanager
def _signals_blocked(*objects: QObject) -> Iterator[None]:
    """Block the signals of `objects` for a `with` block, then restore their state."""
    previous = [obj.blockSignals(True) for obj in objects]
    try:
        yield
    finally:
        for obj, was_blocked in zip(objects, previous, strict=True):
            obj.blockSignals(was_blocked)


class _WheelGuard(QObject):
    """Keeps the mouse wheel from changing an unfocused slider or spin box.

    In a scrolling panel the wheel should scroll, not nudge whatever control
    passes under the pointer. The event is ignored, so Qt hands it on to the
    scroll area.
    """

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.Wheel
            and isinstance(watched, QWidget)
            and not watched.hasFocus()
        ):
            event.ignore()
            return True
        return False


def _set_bold(label: QLabel, bold: bool) -> None:
    """Bold marks a value changed from its default."""
    font = label.font()
    if font.bold() != bold:
        font.setWeight(QFont.Weight.Bold if bold else QFont.Weight.Normal)
        label.setFont(font)


def _small_label(text: str, style: str) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setPointSizeF(font.pointSizeF() * 0.85)
    label.setFont(font)
    label.setStyleSheet(style)
    return label


class _ParamRow(QObject):
    """The controls of one numeric parameter, kept in step with each other.

    Programmatic changes (`set_value`, `set_active`, `reset`, `revert`,
    `apply_p50`) emit nothing; only what the user does emits `edited`.

    The reference a value is compared with is the default, or in seat mode
    the room's value (`set_base`): the name is bold when the value differs
    from it (tagged "seat" in seat mode), and the reset button returns to it.

    Signals:
        edited(): the user changed the value, the on/off box or reset it.
    """

    edited = Signal()

    def __init__(self, spec: ParamSpec, wheel_guard: _WheelGuard, parent: QWidget) -> None:
        super().__init__(parent)
        self.spec = spec
        self.is_supported = True
        self.percentiles: Percentiles | None = None
        self._seat_mode = False
        self._base: float | int | None = None
        self._unsupported_reason = ""
        self._steps = round((spec.slider_high - spec.slider_low) / spec.step)
        self.spin_box = self._make_spin_box()
        if spec.default is not None:
            self._initial = spec.default
        else:
            start = spec.ui_initial if spec.ui_initial is not None else spec.slider_low
            self._initial = self._clamp(start)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, self._steps)
        self.slider.setAccessibleName(f"{spec.key} slider")
        self.name_label = QLabel(spec.key)
        self._default_text = "off" if spec.default is None else format_number(spec, spec.default)
        self.default_label = _small_label(f"default {self._default_text}", _HINT_STYLE)
        self.seat_tag = _small_label("seat", _SEAT_STYLE)
        self.seat_tag.setAccessibleName(f"{spec.key} differs from the room")
        self.seat_tag.hide()
        self.recommended_label = _small_label("", _HINT_STYLE)
        self.recommended_label.setAccessibleName(f"{spec.key} recommended")
        self.recommended_label.setToolTip(
            f"What other users send for {spec.key} to this model: the 10th, 50th "
            "(typical) and 90th percentile. Apply recommended uses p50."
        )
        self.recommended_label.hide()
        self.enabled_check: QCheckBox | None = None
        if spec.is_optional:
            self.enabled_check = QCheckBox("on")
            self.enabled_check.setAccessibleName(f"{spec.key} enabled")
            self.enabled_check.toggled.connect(self.on_enabled_check_toggled)
        self.reset_button = QToolButton()
        self.reset_button.setText("↺")
        self.reset_button.setAutoRaise(True)
        self.reset_button.setAccessibleName(f"Reset {spec.key}")
        self.reset_button.clicked.connect(self.on_reset_button_clicked)
        self._tip = (
            f"{spec.help}\nRange: {spec.describe_range()}. Default: {self._default_text}."
        )
        self._describe(wheel_guard)
        self.set_value(self._initial)
        self._update_enabled()
        self.spin_box.valueChanged.connect(self.on_spin_box_value_changed)
        self.slider.valueChanged.connect(self.on_slider_value_changed)

    def _make_spin_box(self) -> QSpinBox | QDoubleSpinBox:
        spec = self.spec
        low = _INT_MIN if spec.low is None else max(spec.low, _INT_MIN)
        high = _INT_MAX if spec.high is None else min(spec.high, _INT_MAX)
        box: QSpinBox | QDoubleSpinBox
        if spec.kind is int:
            box = QSpinBox()
            box.setRange(int(low), int(high))
            box.setSingleStep(max(1, int(spec.step)))
        else:
            box = QDoubleSpinBox()
            box.setDecimals(spec.decimals)
            box.setRange(low, high)
            box.setSingleStep(spec.step)
        box.setAccessibleName(spec.key)
        box.setAlignment(Qt.AlignmentFlag.AlignRight)
        return box

    def _describe(self, wheel_guard: _WheelGuard) -> None:
        self._apply_tooltips()
        for control in (self.slider, self.spin_box):
            control.setAccessibleDescription(self.spec.help)
            control.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            control.installEventFilter(wheel_guard)

    def _apply_tooltips(self) -> None:
        key = self.spec.key
        if not self.is_supported:
            tip = reset_tip = check_tip = self._unsupported_reason
        elif self._seat_mode:
            tip = self._tip
            reset_tip = f"Reset {key} to the room's value ({self._reference_text()})"
            check_tip = (
                f"The room sends {key}; a seat can change its value but not switch it off."
                if self._base is not None
                else ""
            )
        else:
            tip, check_tip = self._tip, ""
            reset_tip = f"Reset {key} to its default ({self._default_text})"
        for widget in (self.name_label, self.default_label, self.slider, self.spin_box):
            widget.setToolTip(tip)
        self.reset_button.setToolTip(reset_tip)
        if self.enabled_check is not None:
            self.enabled_check.setToolTip(check_tip)

    # -- state -----------------------------------------------------------

    def value(self) -> float | int:
        """The spin box value, as int or as a float rounded to the spec's decimals."""
        if isinstance(self.spin_box, QSpinBox):
            return self.spin_box.value()
        return round(self.spin_box.value(), self.spec.decimals)

    def is_active(self) -> bool:
        """Whether the value goes into values(): enabled, or changed from the default."""
        if self.enabled_check is not None:
            return self.enabled_check.isChecked()
        return self.value() != self.spec.default

    def override(self) -> float | int | None:
        """In seat mode, the value when it differs from the room's; else None.

        An optional parameter that is switched off overrides nothing: a seat
        cannot unset what the room sends.
        """
        if not self._seat_mode or not self.is_supported:
            return None
        if self.enabled_check is not None and not self.enabled_check.isChecked():
            return None
        value = self.value()
        return None if value == self._reference() else value

    def fits(self, value: float) -> bool:
        """Whether the spin box can show `value` (the API may accept more)."""
        return self.spin_box.minimum() <= value <= self.spin_box.maximum()

    def normalise(self, value: float) -> float | int:
        """`value` as the spin box would hold it: a whole number, or rounded to the decimals."""
        if self.spec.kind is int:
            return int(round(value))
        return round(float(value), self.spec.decimals)

    def set_value(self, value: float) -> None:
        with _signals_blocked(self.spin_box, self.slider):
            if isinstance(self.spin_box, QSpinBox):
                self.spin_box.setValue(int(value))
            else:
                self.spin_box.setValue(float(value))
            self.slider.setValue(self._slider_position(value))
        self._refresh()

    def set_active(self, active: bool) -> None:
        """Tick or clear the "on" box of an optional parameter (no-op for others)."""
        if self.enabled_check is None:
            return
        with _signals_blocked(self.enabled_check):
            self.enabled_check.setChecked(active)
        self._update_enabled()
        self._refresh()

    def reset(self) -> None:
        """Back to the default (off for an optional parameter)."""
        self.set_active(False)
        self.set_value(self._initial)

    def revert(self) -> None:
        """Back to the reference: the default, or in seat mode the room's value."""
        if self._seat_mode and self._base is not None:
            self.set_active(True)
            self.set_value(self._base)
        else:
            self.reset()

    def set_supported(self, supported: bool, reason: str) -> None:
        """Enable the controls, or disable them with `reason` as their tooltip."""
        self.is_supported = supported
        self._unsupported_reason = reason
        self._apply_tooltips()
        self._update_labels()
        self._update_enabled()
        self._refresh()

    def set_base(self, base: float | int | None, seat_mode: bool) -> None:
        """Compare with `base` (the room's value; None = the default) in seat mode."""
        self._seat_mode = seat_mode
        self._base = None if base is None else self.normalise(base)
        self.seat_tag.setToolTip(
            f"This seat's own value; the room's is {self._reference_text()}."
        )
        self._apply_tooltips()
        self._update_labels()
        self._update_enabled()
        self._refresh()

    def set_percentiles(self, percentiles: Percentiles | None) -> None:
        """Show p10 · p50 · p90 under the control, or nothing when None."""
        self.percentiles = percentiles
        if percentiles is None:
            self.recommended_label.clear()
            self.recommended_label.hide()
            return
        p10, p50, p90 = (format_number(self.spec, p) for p in percentiles)
        self.recommended_label.setText(f"p10 {p10} · p50 {p50} · p90 {p90}")
        self.recommended_label.show()

    def apply_p50(self) -> None:
        """Set the control to its p50 (clamped to its range); nothing if unsupported or unknown."""
        if self.percentiles is None or not self.is_supported:
            return
        self.set_active(True)
        self.set_value(self._clamp(self.normalise(self.percentiles[1])))

    def _reference(self) -> float | int | None:
        if self._seat_mode and self._base is not None:
            return self._base
        return self.spec.default

    def _reference_text(self) -> str:
        reference = self._reference()
        return "off" if reference is None else format_number(self.spec, reference)

    def _clamp(self, value: float) -> float:
        return min(max(value, self.spin_box.minimum()), self.spin_box.maximum())

    def _slider_position(self, value: float) -> int:
        position = round((value - self.spec.slider_low) / self.spec.step)
        return min(max(position, 0), self._steps)

    def _slider_value(self, position: int) -> float | int:
        if position >= self._steps:  # exact at the top, free of rounding drift
            value: float = self.spec.slider_high
        else:
            value = self.spec.slider_low + position * self.spec.step
        if self.spec.kind is int:
            return int(round(value))
        return round(value, self.spec.decimals)

    def _update_labels(self) -> None:
        if self._seat_mode:
            text = f"room {self._reference_text()}"
        else:
            text = f"default {self._default_text}"
        if not self.is_supported:
            text += " · not sent"
        self.default_label.setText(text)
        for label in (self.name_label, self.default_label, self.recommended_label):
            label.setEnabled(self.is_supported)

    def _update_enabled(self) -> None:
        on = self.enabled_check is None or self.enabled_check.isChecked()
        self.slider.setEnabled(self.is_supported and on)
        self.spin_box.setEnabled(self.is_supported and on)
        if self.enabled_check is not None:
            # A seat cannot switch off what the room sends (there is no "unset" override).
            locked = self._seat_mode and self._base is not None and on
            self.enabled_check.setEnabled(self.is_supported and not locked)

    def _refresh(self) -> None:
        if self._seat_mode:
            marked = changed = self.override() is not None
        else:
            marked = self.is_active()
            changed = marked or self.value() != self._initial
        _set_bold(self.name_label, marked)
        self.seat_tag.setVisible(self._seat_mode and marked)
        self.reset_button.setEnabled(self.is_supported and changed)

    # -- user actions ----------------------------------------------------

    @Slot(int)
    @Slot(float)
    def on_spin_box_value_changed(self, value: float) -> None:
        with _signals_blocked(self.slider):
            self.slider.setValue(self._slider_position(value))
        self._refresh()
        self.edited.emit()

    @Slot(int)
    def on_slider_value_changed(self, position: int) -> None:
        with _signals_blocked(self.spin_box):
            if isinstance(self.spin_box, QSpinBox):
                self.spin_box.setValue(int(self._slider_value(position)))
            else:
                self.spin_box.setValue(float(self._slider_value(position)))
        self._refresh()
        self.edited.emit()

    @Slot(bool)
    def on_enabled_check_toggled(self, checked: bool) -> None:
        self._update_enabled()
        self._refresh()
        self.edited.emit()

    @Slot()
    def on_reset_button_clicked(self) -> None:
        self.revert()
        self.edited.emit()


def _finite_percentiles(value: object) -> Percentiles | None:
    """`value` as three finite numbers, or None (never shows a number that isn't one)."""
    if not isinstance(value, tuple | list) or len(value) != 3:
        return None
    numbers = [v for v in value if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) != 3 or not all(math.isfinite(v) for v in numbers):
        return None
    return float(numbers[0]), float(numbers[1]), float(numbers[2])


class ParamsPanel(QWidget):
    """Room-wide (or one seat's) sampling parameters, stop sequences and system prompt.

    `values()` holds only what differs from the defaults (plus optional
    parameters that are switched on, plus a non-empty stop list), so the
    provider's own defaults stay in force for the rest. Parameters marked
    unsupported (`set_supported`) are never in it.

    Seat mode (`set_base_values`): the room's values are the reference; the
    labels of values that differ from them are bold and tagged "seat", reset
    buttons return to them, and `overrides()` gives what the seat changes.

    Signals:
        values_changed(): the user changed a value, a stop sequence or the
            system prompt (also after a reset button); emitted once by
            reset_all() and apply_recommended(). Not emitted by set_values(),
            set_system_prompt(), set_supported(), set_recommended() or
            set_base_values().
    """

    values_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._quiet = False
        self._seat_mode = False
        self._stop_base: list[str] = []
        self._stop_supported = True
        self._wheel_guard = _WheelGuard(self)
        self._rows: dict[str, _ParamRow] = {}
        self._note_label = _small_label("", _HINT_STYLE)
        self._system_prompt_label = QLabel("System prompt")
        self._system_prompt_edit = QPlainTextEdit()
        self._stop_edit = QPlainTextEdit()
        self._stop_label = QLabel(STOP_KEY)
        self._stop_tag = _small_label("seat", _SEAT_STYLE)
        self._stop_error_label = _small_label("", _ERROR_STYLE)
        self._stop_tip = (
            "Generation stops before any of these sequences. "
            f"Up to {MAX_STOP_SEQUENCES}, one per line; type \\n for a newline, "
            "\\t for a tab, \\\\ for a backslash."
        )
        self._apply_button = QPushButton("Apply recommended")
        self._reset_all_button = QPushButton("Reset all")
        self._content = QWidget()
        self._scroll = QScrollArea()
        self._build()

    # -- construction ----------------------------------------------------

    def _build(self) -> None:
        grid = QGridLayout(self._content)
        grid.setVerticalSpacing(2)
        grid.setColumnStretch(0, 1)
        row = self._add_note(grid, 0)
        row = self._add_system_prompt(grid, row)
        for spec in SPECS:
            row = self._add_param(grid, row, spec)
        row = self._add_stop(grid, row)
        grid.setRowStretch(row, 1)
        scroll = self._scroll
        scroll.setWidget(self._content)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._update_minimum_width()
        self._reset_all_button.setAccessibleName("Reset all parameters")
        self._reset_all_button.setToolTip("Set every parameter and the stop sequences to default")
        self._reset_all_button.clicked.connect(self.on_reset_all_button_clicked)
        self._apply_button.setAccessibleName("Apply recommended")
        self._apply_button.setToolTip(
            "Set every parameter that has recommended values to its p50, "
            "the value other users send most typically"
        )
        self._apply_button.clicked.connect(self.on_apply_button_clicked)
        self._apply_button.hide()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll, 1)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(6, 0, 6, 6)
        buttons.addWidget(self._apply_button)
        buttons.addStretch(1)
        buttons.addWidget(self._reset_all_button)
        outer.addLayout(buttons)

    def _add_note(self, grid: QGridLayout, row: int) -> int:
        note = self._note_label
        note.setWordWrap(True)
        note.setAccessibleName("Recommended values note")
        note.hide()
        grid.addWidget(note, row, 0, 1, 2)
        return row + 1

    def _add_system_prompt(self, grid: QGridLayout, row: int) -> int:
        label = self._system_prompt_label
        label.setBuddy(self._system_prompt_edit)
        edit = self._system_prompt_edit
        edit.setAccessibleName("System prompt")
        edit.setPlaceholderText("Instructions every model sees first (optional)")
        edit.setTabChangesFocus(True)
        _set_height_in_lines(edit, 4)
        edit.textChanged.connect(self.on_system_prompt_edit_text_changed)
        grid.addWidget(label, row, 0, 1, 2)
        grid.addWidget(edit, row + 1, 0, 1, 2)
        return row + 2

    def _add_param(self, grid: QGridLayout, row: int, spec: ParamSpec) -> int:
        param = _ParamRow(spec, self._wheel_guard, self)
        param.edited.connect(self.on_param_edited)
        self._rows[spec.key] = param
        header = QHBoxLayout()
        header.setSpacing(6)
        header.addWidget(param.name_label)
        header.addWidget(param.seat_tag, 0, Qt.AlignmentFlag.AlignBaseline)
        header.addWidget(param.default_label, 0, Qt.AlignmentFlag.AlignBaseline)
        header.addStretch(1)
        if param.enabled_check is not None:
            header.addWidget(param.enabled_check)
        header.addWidget(param.reset_button)
        header.setContentsMargins(0, 6, 0, 0)
        grid.addLayout(header, row, 0, 1, 2)
        grid.addWidget(param.slider, row + 1, 0)
        grid.addWidget(param.spin_box, row + 1, 1)
        grid.addWidget(param.recommended_label, row + 2, 0, 1, 2)
        return row + 3

    def _add_stop(self, grid: QGridLayout, row: int) -> int:
        label = self._stop_label
        label.setBuddy(self._stop_edit)
        hint = _small_label(
            f"one per line, at most {MAX_STOP_SEQUENCES}; \\n = newline, \\t = tab",
            _HINT_STYLE,
        )
        hint.setWordWrap(True)
        title = QHBoxLayout()
        title.setSpacing(6)
        title.addWidget(label)
        self._stop_tag.setAccessibleName(f"{STOP_KEY} differs from the room")
        self._stop_tag.setToolTip("This seat's own stop sequences differ from the room's.")
        self._stop_tag.hide()
        title.addWidget(self._stop_tag, 0, Qt.AlignmentFlag.AlignBaseline)
        title.addStretch(1)
        header = QVBoxLayout()
        header.setSpacing(0)
        header.setContentsMargins(0, 6, 0, 0)
        header.addLayout(title)
        header.addWidget(hint)
        edit = self._stop_edit
        edit.setAccessibleName(STOP_KEY)
        edit.setToolTip(self._stop_tip)
        edit.setTabChangesFocus(True)
        edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        _set_height_in_lines(edit, MAX_STOP_SEQUENCES)
        edit.textChanged.connect(self.on_stop_edit_text_changed)
        self._stop_error_label.setWordWrap(True)
        self._stop_error_label.setAccessibleName("stop error")
        self._stop_error_label.hide()
        grid.addLayout(header, row, 0, 1, 2)
        grid.addWidget(edit, row + 1, 0, 1, 2)
        grid.addWidget(self._stop_error_label, row + 2, 0, 1, 2)
        return row + 3

    def _update_minimum_width(self) -> None:
        # Never narrower than the content: without a horizontal scroll bar,
        # a narrower dock would cut the spin boxes off. Labels grow in seat
        # mode and for unsupported parameters, so this runs again then.
        scrollbar_width = self._scroll.verticalScrollBar().sizeHint().width()
        self._scroll.setMinimumWidth(self._content.minimumSizeHint().width() + scrollbar_width)

    # -- public API ------------------------------------------------------

    def values(self) -> dict[str, ParamValue]:
        """The validated values to send: changed ones, enabled optional ones, stop.

        Ordered as SPECS, then stop. Of more than MAX_STOP_SEQUENCES stop
        lines only the first ones are used (the panel shows an error).
        Unsupported parameters are left out.
        """
        values: dict[str, ParamValue] = {}
        for key, row in self._rows.items():
            if row.is_supported and row.is_active():
                values[key] = validate_param(key, row.value())
        stops = self._current_stops()
        if stops and self._stop_supported:
            values[STOP_KEY] = validate_param(STOP_KEY, stops)
        return values

    def set_values(self, values: Mapping[str, ParamValue]) -> None:
        """Show `values`; missing keys get their defaults.

        Unknown keys and values the controls cannot hold are left out (logged
        at INFO: stored settings may come from another version).
        """
        for key in values.keys() - self._rows.keys() - {STOP_KEY}:
            log.info("ignoring unknown parameter %r", key)
        self._quiet = True
        try:
            for key, row in self._rows.items():
                self._load_row(row, values.get(key))
            self._stop_edit.setPlainText(stop_text(self._valid_stops(values.get(STOP_KEY))))
        finally:
            self._quiet = False

    def system_prompt(self) -> str:
        return self._system_prompt_edit.toPlainText()

    def set_system_prompt(self, text: str) -> None:
        """Show `text` as the system prompt without emitting values_changed."""
        self._quiet = True
        try:
            self._system_prompt_edit.setPlainText(text)
        finally:
            self._quiet = False

    def set_system_prompt_visible(self, visible: bool) -> None:
        """Show or hide the system prompt field (a seat has none of its own)."""
        self._system_prompt_label.setVisible(visible)
        self._system_prompt_edit.setVisible(visible)

    def spin_box(self, key: str) -> QAbstractSpinBox:
        """The spin box of parameter `key` (QSpinBox or QDoubleSpinBox); KeyError if none."""
        return self._rows[key].spin_box

    def slider(self, key: str) -> QSlider:
        """The slider of parameter `key`; KeyError if none."""
        return self._rows[key].slider

    def stop_error(self) -> str:
        """The stop-sequence problem shown to the user, or "" when there is none."""
        return self._stop_error_label.text() if self._stop_error_label.isVisibleTo(self) else ""

    def reset_all(self) -> None:
        """Set every parameter and the stop list to its reference (not the system prompt).

        The reference is the default, or in seat mode the room's value, so
        there this clears every override. Emits values_changed once.
        """
        self._quiet = True
        try:
            for row in self._rows.values():
                row.revert()
            if self._seat_mode:
                self._stop_edit.setPlainText(stop_text(self._stop_base))
            else:
                self._stop_edit.clear()
        finally:
            self._quiet = False
        self.values_changed.emit()

    # -- supported parameters ---------------------------------------------

    def set_supported(self, supported: Callable[[str], bool] | None, reason: str = "") -> None:
        """Grey out every parameter for which `supported(key)` is False; None = all supported.

        Their controls are disabled with `reason` as tooltip, `{key}` replaced
        by the parameter's name (see unsupported_reason(); empty gives
        NOT_SUPPORTED_REASON). values() and overrides() leave them out; the
        values they hold are kept for a model that takes them.
        """
        for key, row in self._rows.items():
            row.set_supported(supported is None or supported(key), _reason_for(reason, key))
        self._stop_supported = supported is None or supported(STOP_KEY)
        self._stop_edit.setEnabled(self._stop_supported)
        self._stop_label.setEnabled(self._stop_supported)
        self._stop_edit.setToolTip(
            self._stop_tip if self._stop_supported else _reason_for(reason, STOP_KEY)
        )
        self._refresh_stop()
        self._update_apply_button()
        self._update_minimum_width()

    def is_supported(self, key: str) -> bool:
        """Whether `key` (a parameter or stop) is sent; KeyError for an unknown parameter."""
        if key == STOP_KEY:
            return self._stop_supported
        return self._rows[key].is_supported

    # -- recommended values -----------------------------------------------

    def set_recommended(
        self, recommended: Mapping[str, Percentiles] | None, note: str = ""
    ) -> None:
        """Show p10 · p50 · p90 beside each control in `recommended`, and `note` on top.

        Keys without a control and entries that are not three finite numbers
        are ignored, so no number is ever made up. "Apply recommended" shows
        only while some control has percentiles. An empty `note` hides it.
        """
        for key, row in self._rows.items():
            row.set_percentiles(
                None if recommended is None else _finite_percentiles(recommended.get(key))
            )
        self._note_label.setText(note)
        self._note_label.setVisible(bool(note))
        self._update_apply_button()

    def recommended_note(self) -> str:
        """The note shown above the controls, or "" when none is shown."""
        return self._note_label.text() if self._note_label.isVisibleTo(self) else ""

    def has_recommended(self) -> bool:
        """Whether any control shows percentiles."""
        return any(row.percentiles is not None for row in self._rows.values())

    def apply_recommended(self) -> None:
        """Set each supported control that has percentiles to its p50, clamped to its range.

        Emits values_changed once.
        """
        self._quiet = True
        try:
            for row in self._rows.values():
                row.apply_p50()
        finally:
            self._quiet = False
        self.values_changed.emit()

    # -- seat mode ------------------------------------------------------------

    def set_base_values(self, values: Mapping[str, ParamValue] | None) -> None:
        """Enter seat mode with `values` (the room's) as the reference; None leaves it.

        This changes what is compared, not what is shown: call set_values()
        with the seat's effective values (room <- overrides) as well. Values
        the controls cannot hold count as absent. "Reset all" is hidden in seat
        mode; reset_all() then clears the overrides.
        """
        self._seat_mode = values is not None
        base: Mapping[str, ParamValue] = values or {}
        for key, row in self._rows.items():
            row.set_base(self._valid_number(row, base.get(key)), self._seat_mode)
        self._stop_base = self._valid_stops(base.get(STOP_KEY))
        self._reset_all_button.setVisible(not self._seat_mode)
        self._refresh_stop()
        self._update_minimum_width()

    def is_seat_mode(self) -> bool:
        return self._seat_mode

    def overrides(self) -> dict[str, ParamValue]:
        """In seat mode, every value that differs from the room's: what the seat stores.

        A control set back to its default where the room has another value
        gives the default. An optional parameter gives its value when it is on
        and differs (a seat cannot switch off what the room sends). Stop
        sequences give the seat's list, [] when the seat clears the room's.
        Unsupported parameters are left out. Outside seat mode: {}.
        """
        if not self._seat_mode:
            return {}
        overrides: dict[str, ParamValue] = {}
        for key, row in self._rows.items():
            value = row.override()
            if value is not None:
                overrides[key] = validate_param(key, value)
        stops = self._stop_override()
        if stops is not None:
            overrides[STOP_KEY] = stops
        return overrides

    # -- internals -------------------------------------------------------

    def _valid_number(self, row: _ParamRow, value: ParamValue | None) -> float | int | None:
        """`value` if it is valid for `row` and the control can hold it; else None (logged)."""
        if value is None:
            return None
        try:
            number = validate_param(row.spec.key, value)
        except ParameterError as exc:
            log.info("ignoring %s: %s", row.spec.key, exc)
            return None
        if not isinstance(number, int | float):
            return None
        if not row.fits(number):
            log.info("ignoring %s = %s: beyond what the control can hold", row.spec.key, number)
            return None
        return number

    def _load_row(self, row: _ParamRow, value: ParamValue | None) -> None:
        number = self._valid_number(row, value)
        if number is None:
            row.reset()
            return
        row.set_active(True)
        row.set_value(number)

    def _valid_stops(self, value: ParamValue | None) -> list[str]:
        if value is None:
            return []
        try:
            stops = validate_param(STOP_KEY, value)
        except ParameterError as exc:
            log.info("ignoring stop: %s", exc)
            return []
        return stops if isinstance(stops, list) else []

    def _current_stops(self) -> list[str]:
        return parse_stop_text(self._stop_edit.toPlainText())[:MAX_STOP_SEQUENCES]

    def _stop_override(self) -> list[str] | None:
        if not self._seat_mode or not self._stop_supported:
            return None
        stops = self._current_stops()
        return None if stops == self._stop_base else stops

    def _refresh_stop(self) -> None:
        if self._seat_mode:
            marked = self._stop_override() is not None
        else:
            marked = bool(parse_stop_text(self._stop_edit.toPlainText()))
        _set_bold(self._stop_label, marked)
        self._stop_tag.setVisible(self._seat_mode and marked)

    def _update_apply_button(self) -> None:
        rows = [row for row in self._rows.values() if row.percentiles is not None]
        self._apply_button.setVisible(bool(rows))
        self._apply_button.setEnabled(any(row.is_supported for row in rows))

    def _changed(self) -> None:
        if not self._quiet:
            self.values_changed.emit()

    # -- slots -----------------------------------------------------------

    @Slot()
    def on_param_edited(self) -> None:
        self._changed()

    @Slot()
    def on_stop_edit_text_changed(self) -> None:
        count = len(parse_stop_text(self._stop_edit.toPlainText()))
        too_many = count > MAX_STOP_SEQUENCES
        if too_many:
            self._stop_error_label.setText(
                f"At most {MAX_STOP_SEQUENCES} stop sequences are allowed; "
                f"only the first {MAX_STOP_SEQUENCES} are used. Remove {count - MAX_STOP_SEQUENCES}."
            )
        self._stop_error_label.setVisible(too_many)
        self._refresh_stop()
        self._changed()

    @Slot()
    def on_system_prompt_edit_text_changed(self) -> None:
        self._changed()

    @Slot()
    def on_reset_all_button_clicked(self) -> None:
        self.reset_all()

    @Slot()
    def on_apply_button_clicked(self) -> None:
        self.apply_recommended()


def _set_height_in_lines(edit: QPlainTextEdit, lines: int) -> None:
    margins = edit.contentsMargins()
    frame = 2 * edit.frameWidth() + margins.top() + margins.bottom()
    height = edit.fontMetrics().lineSpacing() * lines + 2 * edit.document().documentMargin() + frame
    edit.setFixedHeight(int(height))
    edit.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
