"""ParamsPanel: a control for every sampling parameter, generated from params.SPECS.

Each numeric parameter gets a header line (its API name, bold once changed,
its default in small grey, an "on" box for parameters that are off by
default, a reset button) and a slider bound to a spin box. The spin box takes
the whole accepted range; the slider covers the useful part of it
(`slider_low`..`slider_high`) and sits at its end when the spin box goes
beyond. Below them: the stop sequences, one per line, and the system prompt.
Nothing here is hand-listed: a new row in SPECS gets its controls for free.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
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

__all__ = ["ParamsPanel", "format_number", "parse_stop_text", "stop_text"]

log = logging.getLogger(__name__)

# QSpinBox and QSlider hold a C int: parameters with a wider (or no) bound
# are cut to this range in the widgets.
_INT_MIN: Final = -(2**31)
_INT_MAX: Final = 2**31 - 1
_ERROR_STYLE: Final = "color: #b3261e;"
_HINT_STYLE: Final = "color: palette(placeholder-text);"
_ESCAPES: Final = {"n": "\n", "t": "\t", "\\": "\\"}


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

    Programmatic changes (`set_value`, `set_active`, `reset`) emit nothing;
    only what the user does emits `edited`.

    Signals:
        edited(): the user changed the value, the on/off box or reset it.
    """

    edited = Signal()

    def __init__(self, spec: ParamSpec, wheel_guard: _WheelGuard, parent: QWidget) -> None:
        super().__init__(parent)
        self.spec = spec
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
        default = "off" if spec.default is None else format_number(spec, spec.default)
        self.default_label = _small_label(f"default {default}", _HINT_STYLE)
        self.enabled_check: QCheckBox | None = None
        if spec.is_optional:
            self.enabled_check = QCheckBox("on")
            self.enabled_check.setAccessibleName(f"{spec.key} enabled")
            self.enabled_check.toggled.connect(self.on_enabled_check_toggled)
        self.reset_button = QToolButton()
        self.reset_button.setText("↺")
        self.reset_button.setAutoRaise(True)
        self.reset_button.setAccessibleName(f"Reset {spec.key}")
        self.reset_button.setToolTip(f"Reset {spec.key} to its default ({default})")
        self.reset_button.clicked.connect(self.on_reset_button_clicked)
        self._describe(default, wheel_guard)
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

    def _describe(self, default: str, wheel_guard: _WheelGuard) -> None:
        spec = self.spec
        tip = f"{spec.help}\nRange: {spec.describe_range()}. Default: {default}."
        for widget in (self.name_label, self.default_label, self.slider, self.spin_box):
            widget.setToolTip(tip)
        for control in (self.slider, self.spin_box):
            control.setAccessibleDescription(spec.help)
            control.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            control.installEventFilter(wheel_guard)

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

    def fits(self, value: float) -> bool:
        """Whether the spin box can show `value` (the API may accept more)."""
        return self.spin_box.minimum() <= value <= self.spin_box.maximum()

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
        self.set_active(False)
        self.set_value(self._initial)

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

    def _update_enabled(self) -> None:
        on = self.enabled_check is None or self.enabled_check.isChecked()
        self.slider.setEnabled(on)
        self.spin_box.setEnabled(on)

    def _refresh(self) -> None:
        active = self.is_active()
        _set_bold(self.name_label, active)
        changed = active or self.value() != self._initial
        self.reset_button.setEnabled(changed)

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
        self.reset()
        self.edited.emit()


class ParamsPanel(QWidget):
    """Room-wide sampling parameters, stop sequences and system prompt.

    `values()` holds only what differs from the defaults (plus optional
    parameters that are switched on, plus a non-empty stop list), so the
    provider's own defaults stay in force for the rest.

    Signals:
        values_changed(): the user changed a value, a stop sequence or the
            system prompt (also after a reset button). Not emitted by
            set_values() or set_system_prompt().
    """

    values_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._quiet = False
        self._wheel_guard = _WheelGuard(self)
        self._rows: dict[str, _ParamRow] = {}
        self._system_prompt_edit = QPlainTextEdit()
        self._stop_edit = QPlainTextEdit()
        self._stop_label = QLabel(STOP_KEY)
        self._stop_error_label = _small_label("", _ERROR_STYLE)
        self._reset_all_button = QPushButton("Reset all")
        self._build()

    # -- construction ----------------------------------------------------

    def _build(self) -> None:
        content = QWidget()
        grid = QGridLayout(content)
        grid.setVerticalSpacing(2)
        grid.setColumnStretch(0, 1)
        row = self._add_system_prompt(grid, 0)
        for spec in SPECS:
            row = self._add_param(grid, row, spec)
        row = self._add_stop(grid, row)
        grid.setRowStretch(row, 1)
        scroll = QScrollArea()
        scroll.setWidget(content)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Never narrower than the content: without a horizontal scroll bar,
        # a narrower dock would cut the spin boxes off.
        scrollbar_width = scroll.verticalScrollBar().sizeHint().width()
        scroll.setMinimumWidth(content.minimumSizeHint().width() + scrollbar_width)
        self._reset_all_button.setAccessibleName("Reset all parameters")
        self._reset_all_button.setToolTip("Set every parameter and the stop sequences to default")
        self._reset_all_button.clicked.connect(self.on_reset_all_button_clicked)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll, 1)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(6, 0, 6, 6)
        buttons.addStretch(1)
        buttons.addWidget(self._reset_all_button)
        outer.addLayout(buttons)

    def _add_system_prompt(self, grid: QGridLayout, row: int) -> int:
        label = QLabel("System prompt")
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
        header.addWidget(param.default_label, 0, Qt.AlignmentFlag.AlignBaseline)
        header.addStretch(1)
        if param.enabled_check is not None:
            header.addWidget(param.enabled_check)
        header.addWidget(param.reset_button)
        if row:
            header.setContentsMargins(0, 6, 0, 0)
        grid.addLayout(header, row, 0, 1, 2)
        grid.addWidget(param.slider, row + 1, 0)
        grid.addWidget(param.spin_box, row + 1, 1)
        return row + 2

    def _add_stop(self, grid: QGridLayout, row: int) -> int:
        label = self._stop_label
        label.setBuddy(self._stop_edit)
        hint = _small_label(
            f"one per line, at most {MAX_STOP_SEQUENCES}; \\n = newline, \\t = tab",
            _HINT_STYLE,
        )
        hint.setWordWrap(True)
        header = QVBoxLayout()
        header.setSpacing(0)
        header.setContentsMargins(0, 6, 0, 0)
        header.addWidget(label)
        header.addWidget(hint)
        edit = self._stop_edit
        edit.setAccessibleName(STOP_KEY)
        edit.setToolTip(
            "Generation stops before any of these sequences. "
            f"Up to {MAX_STOP_SEQUENCES}, one per line; type \\n for a newline, "
            "\\t for a tab, \\\\ for a backslash."
        )
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

    # -- public API ------------------------------------------------------

    def values(self) -> dict[str, ParamValue]:
        """The validated values to send: changed ones, enabled optional ones, stop.

        Ordered as SPECS, then stop. Of more than MAX_STOP_SEQUENCES stop
        lines only the first ones are used (the panel shows an error).
        """
        values: dict[str, ParamValue] = {}
        for key, row in self._rows.items():
            if row.is_active():
                values[key] = validate_param(key, row.value())
        stops = parse_stop_text(self._stop_edit.toPlainText())[:MAX_STOP_SEQUENCES]
        if stops:
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
        """Set every parameter and the stop list to default (not the system prompt).

        Emits values_changed once.
        """
        self._quiet = True
        try:
            for row in self._rows.values():
                row.reset()
            self._stop_edit.clear()
        finally:
            self._quiet = False
        self.values_changed.emit()

    # -- internals -------------------------------------------------------

    def _load_row(self, row: _ParamRow, value: ParamValue | None) -> None:
        if value is not None:
            try:
                number = validate_param(row.spec.key, value)
            except ParameterError as exc:
                log.info("ignoring %s: %s", row.spec.key, exc)
                number = None
            if isinstance(number, int | float) and not row.fits(number):
                log.info("ignoring %s = %s: beyond what the control can hold", row.spec.key, number)
                number = None
            if isinstance(number, int | float):
                row.set_active(True)
                row.set_value(number)
                return
        row.reset()

    def _valid_stops(self, value: ParamValue | None) -> list[str]:
        if value is None:
            return []
        try:
            stops = validate_param(STOP_KEY, value)
        except ParameterError as exc:
            log.info("ignoring stop: %s", exc)
            return []
        return stops if isinstance(stops, list) else []

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
        _set_bold(self._stop_label, count > 0)
        self._changed()

    @Slot()
    def on_system_prompt_edit_text_changed(self) -> None:
        self._changed()

    @Slot()
    def on_reset_all_button_clicked(self) -> None:
        self.reset_all()


def _set_height_in_lines(edit: QPlainTextEdit, lines: int) -> None:
    margins = edit.contentsMargins()
    frame = 2 * edit.frameWidth() + margins.top() + margins.bottom()
    height = edit.fontMetrics().lineSpacing() * lines + 2 * edit.document().documentMargin() + frame
    edit.setFixedHeight(int(height))
    edit.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
