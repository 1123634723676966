"""ParamsPanel: controls generated from SPECS, bound both ways, values() sends only changes."""

from __future__ import annotations

import logging
import math
from typing import TypeVar

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QDoubleSpinBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QWidget,
)
from pytestqt.qtbot import QtBot

from chatroom.core.params import (
    MAX_STOP_SEQUENCES,
    SPECS,
    SPECS_BY_KEY,
    ParamSpec,
    ParamValue,
)
from chatroom.ui.params_panel import (
    NOT_SUPPORTED_REASON,
    ParamsPanel,
    parse_stop_text,
    stop_text,
    unsupported_reason,
)

# The offscreen platform says this on every first show(); it is not our bug.
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints")

NUMBERS = [spec.key for spec in SPECS]
OPTIONAL = [spec.key for spec in SPECS if spec.is_optional]
INT32 = (-(2**31), 2**31 - 1)


@pytest.fixture
def panel(qtbot: QtBot) -> ParamsPanel:
    widget = ParamsPanel()
    qtbot.addWidget(widget)
    widget.resize(300, 700)
    return widget


W = TypeVar("W", bound=QWidget)


def named(parent: QWidget, kind: type[W], name: str) -> W:
    """The one child of `kind` whose accessible name is `name`."""
    found = [w for w in parent.findChildren(kind) if w.accessibleName() == name]
    assert len(found) == 1, f"{len(found)} {kind.__name__} named {name!r}"
    return found[0]


def enable(panel: ParamsPanel, key: str) -> None:
    if SPECS_BY_KEY[key].is_optional:
        named(panel, QCheckBox, f"{key} enabled").setChecked(True)


def set_spin(spin: QSpinBox | QDoubleSpinBox, value: float) -> None:
    """Set a spin box as the user would, whichever kind it is."""
    if isinstance(spin, QSpinBox):
        spin.setValue(int(value))
    else:
        spin.setValue(value)


def api_bounds(spec: ParamSpec) -> list[float]:
    """The API bounds of `spec` that a 32-bit spin box can hold."""
    return [b for b in (spec.low, spec.high) if b is not None and INT32[0] <= b <= INT32[1]]


# -- accessible names ----------------------------------------------------


@pytest.mark.parametrize("key", NUMBERS)
def test_every_parameter_has_named_controls(panel: ParamsPanel, key: str) -> None:
    spin = panel.spin_box(key)
    assert named(panel, type(spin), key) is spin
    assert named(panel, type(panel.slider(key)), f"{key} slider") is panel.slider(key)
    named(panel, QToolButton, f"Reset {key}")
    assert SPECS_BY_KEY[key].help in spin.toolTip()
    assert SPECS_BY_KEY[key].help in panel.slider(key).toolTip()


def test_other_controls_are_named(panel: ParamsPanel) -> None:
    named(panel, QPlainTextEdit, "stop")
    named(panel, QPlainTextEdit, "System prompt")
    named(panel, QPushButton, "Reset all parameters")
    for key in OPTIONAL:
        named(panel, QCheckBox, f"{key} enabled")


@pytest.mark.parametrize("key", NUMBERS)
def test_spin_box_kind_and_range_follow_the_spec(panel: ParamsPanel, key: str) -> None:
    spec = SPECS_BY_KEY[key]
    spin = panel.spin_box(key)
    if spec.kind is float:
        assert isinstance(spin, QDoubleSpinBox)
        assert spin.decimals() == spec.decimals
        assert spin.singleStep() == spec.step
    else:
        assert isinstance(spin, QSpinBox)
    low = INT32[0] if spec.low is None else max(spec.low, INT32[0])
    high = INT32[1] if spec.high is None else min(spec.high, INT32[1])
    assert (spin.minimum(), spin.maximum()) == (low, high)


# -- slider <-> spin box ---------------------------------------------------


@pytest.mark.parametrize("key", NUMBERS)
def test_spin_box_at_its_bounds_puts_the_slider_at_its_ends(panel: ParamsPanel, key: str) -> None:
    enable(panel, key)
    spin, slider = panel.spin_box(key), panel.slider(key)
    assert isinstance(spin, QSpinBox | QDoubleSpinBox)
    set_spin(spin, spin.minimum())
    assert slider.value() == slider.minimum()
    set_spin(spin, spin.maximum())
    assert slider.value() == slider.maximum()


@pytest.mark.parametrize("key", NUMBERS)
def test_slider_at_its_ends_gives_the_ui_range(panel: ParamsPanel, key: str) -> None:
    spec = SPECS_BY_KEY[key]
    enable(panel, key)
    spin, slider = panel.spin_box(key), panel.slider(key)
    assert isinstance(spin, QSpinBox | QDoubleSpinBox)
    slider.setValue(slider.maximum())
    assert spin.value() == spec.slider_high
    assert panel.values().get(key, spec.default) == spec.slider_high
    slider.setValue(slider.minimum())
    assert spin.value() == spec.slider_low


@pytest.mark.parametrize("key", NUMBERS)
def test_values_at_the_api_bounds_are_exact(panel: ParamsPanel, key: str) -> None:
    spec = SPECS_BY_KEY[key]
    enable(panel, key)
    spin = panel.spin_box(key)
    assert isinstance(spin, QSpinBox | QDoubleSpinBox)
    for bound in api_bounds(spec):
        set_spin(spin, bound)
        if bound == spec.default:
            assert key not in panel.values()
            continue
        value = panel.values()[key]
        assert value == bound
        assert type(value) is spec.kind


def test_float_bounds_examples(panel: ParamsPanel) -> None:
    panel.slider("temperature").setValue(panel.slider("temperature").maximum())
    panel.slider("frequency_penalty").setValue(panel.slider("frequency_penalty").minimum())
    assert panel.values() == {"temperature": 2.0, "frequency_penalty": -2.0}


def test_slider_steps_map_to_spec_steps(panel: ParamsPanel) -> None:
    slider, spin = panel.slider("temperature"), panel.spin_box("temperature")
    assert isinstance(spin, QDoubleSpinBox)
    assert slider.maximum() == 40  # 0.0 .. 2.0 in steps of 0.05
    slider.setValue(14)
    assert spin.value() == pytest.approx(0.7)
    assert panel.values() == {"temperature": 0.7}
    spin.setValue(0.33)  # between two steps: the slider takes the nearest, the value stays
    assert slider.value() == 7
    assert panel.values() == {"temperature": 0.33}


def test_spin_box_beyond_the_slider_range(panel: ParamsPanel) -> None:
    spin = panel.spin_box("top_k")
    assert isinstance(spin, QSpinBox)
    spin.setValue(500)  # the API has no upper bound; the slider stops at ui_high
    assert panel.slider("top_k").value() == panel.slider("top_k").maximum()
    assert panel.values() == {"top_k": 500}


def test_typing_into_a_spin_box(qtbot: QtBot, panel: ParamsPanel) -> None:
    panel.show()
    spin = panel.spin_box("temperature")
    spin.setFocus()
    spin.selectAll()
    with qtbot.waitSignal(panel.values_changed):
        qtbot.keyClicks(spin, "1.5")
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert panel.values() == {"temperature": 1.5}
    assert panel.slider("temperature").value() == 30


def test_wheel_over_an_unfocused_slider_changes_nothing(qtbot: QtBot, panel: ParamsPanel) -> None:
    slider = panel.slider("top_p")
    before = slider.value()
    center = QPointF(slider.rect().center())
    event = QWheelEvent(
        center, QPointF(slider.mapToGlobal(QPoint(0, 0))) + center, QPoint(), QPoint(0, -120),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )
    QApplication.sendEvent(slider, event)
    assert slider.value() == before
    assert panel.values() == {}


# -- values, changes and resets ---------------------------------------------


def test_defaults_give_no_values(panel: ParamsPanel) -> None:
    assert panel.values() == {}
    for spec in SPECS:
        if not spec.is_optional:
            spin = panel.spin_box(spec.key)
            assert isinstance(spin, QSpinBox | QDoubleSpinBox)
            assert spin.value() == spec.default


def test_values_holds_only_changed_values(qtbot: QtBot, panel: ParamsPanel) -> None:
    with qtbot.waitSignal(panel.values_changed):
        panel.slider("top_p").setValue(90)
    assert panel.values() == {"top_p": 0.9}
    spin = panel.spin_box("top_p")
    assert isinstance(spin, QDoubleSpinBox)
    spin.setValue(1.0)
    assert panel.values() == {}


def test_changed_label_is_bold_and_default_is_shown(panel: ParamsPanel) -> None:
    label = next(w for w in panel.findChildren(QLabel) if w.text() == "temperature")
    assert not label.font().bold()
    assert any(w.text() == "default 1.0" for w in panel.findChildren(QLabel))
    panel.slider("temperature").setValue(10)
    assert label.font().bold()


def test_reset_button_per_control(qtbot: QtBot, panel: ParamsPanel) -> None:
    panel.show()
    reset = named(panel, QToolButton, "Reset temperature")
    assert not reset.isEnabled()
    panel.slider("temperature").setValue(4)
    panel.slider("top_p").setValue(50)
    assert reset.isEnabled()
    with qtbot.waitSignal(panel.values_changed):
        qtbot.mouseClick(reset, Qt.MouseButton.LeftButton)
    assert panel.values() == {"top_p": 0.5}
    assert not reset.isEnabled()
    spin = panel.spin_box("temperature")
    assert isinstance(spin, QDoubleSpinBox)
    assert spin.value() == 1.0
    assert panel.slider("temperature").value() == 20


def test_reset_all(qtbot: QtBot, panel: ParamsPanel) -> None:
    panel.show()
    panel.set_system_prompt("Be brief.")
    panel.slider("temperature").setValue(4)
    panel.slider("top_k").setValue(40)
    enable(panel, "seed")
    named(panel, QPlainTextEdit, "stop").setPlainText("END")
    assert set(panel.values()) == {"temperature", "top_k", "seed", "stop"}
    emitted: list[None] = []
    panel.values_changed.connect(lambda: emitted.append(None))
    qtbot.mouseClick(named(panel, QPushButton, "Reset all parameters"), Qt.MouseButton.LeftButton)
    assert panel.values() == {}
    assert len(emitted) == 1
    assert panel.system_prompt() == "Be brief."  # not a parameter
    assert not panel.spin_box("seed").isEnabled()
    assert all(not b.isEnabled() for b in panel.findChildren(QToolButton))


# -- optional parameters ------------------------------------------------------


@pytest.mark.parametrize("key", OPTIONAL)
def test_optional_parameter_checkbox(qtbot: QtBot, panel: ParamsPanel, key: str) -> None:
    check = named(panel, QCheckBox, f"{key} enabled")
    spin = panel.spin_box(key)
    assert isinstance(spin, QSpinBox)
    assert not check.isChecked()
    assert not spin.isEnabled() and not panel.slider(key).isEnabled()
    assert key not in panel.values()
    with qtbot.waitSignal(panel.values_changed):
        check.setChecked(True)
    assert spin.isEnabled() and panel.slider(key).isEnabled()
    assert panel.values() == {key: spin.value()}
    spin.setValue(512)
    assert panel.values() == {key: 512}
    check.setChecked(False)
    assert panel.values() == {}
    qtbot.mouseClick(named(panel, QToolButton, f"Reset {key}"), Qt.MouseButton.LeftButton)
    assert not check.isChecked()


# -- stop sequences and system prompt ------------------------------------------


def test_stop_lines_are_parsed() -> None:
    # Blank lines are skipped; \n, \t, \\ are escapes; other backslashes stay.
    assert parse_stop_text("###\n\n   \nEND\\n\n a\\tb\nC:\\path\n\\\\n") == [
        "###", "END\n", " a\tb", "C:\\path", "\\n",
    ]


def test_stop_values(panel: ParamsPanel) -> None:
    named(panel, QPlainTextEdit, "stop").setPlainText("###\n\nEND\\n\n")
    assert panel.values() == {"stop": ["###", "END\n"]}
    assert panel.stop_error() == ""


def test_fifth_stop_line_shows_an_error_and_is_not_sent(qtbot: QtBot, panel: ParamsPanel) -> None:
    panel.show()
    edit = named(panel, QPlainTextEdit, "stop")
    edit.setPlainText("a\nb\nc\nd")
    assert panel.stop_error() == ""
    edit.setFocus()
    edit.moveCursor(edit.textCursor().MoveOperation.End)
    with qtbot.waitSignal(panel.values_changed):
        qtbot.keyClick(edit, Qt.Key.Key_Return)
    qtbot.keyClicks(edit, "e")
    error = named(panel, QLabel, "stop error")
    assert error.isVisible()
    assert f"At most {MAX_STOP_SEQUENCES}" in panel.stop_error()
    assert panel.values() == {"stop": ["a", "b", "c", "d"]}
    qtbot.keyClick(edit, Qt.Key.Key_Backspace)
    assert not error.isVisible()
    assert panel.stop_error() == ""


@pytest.mark.parametrize("sequences", [["a\nb", "\\x", "\t", "back\\slash\\n"], ["###"]])
def test_stop_text_round_trip(sequences: list[str]) -> None:
    assert parse_stop_text(stop_text(sequences)) == sequences


def test_system_prompt(qtbot: QtBot, panel: ParamsPanel) -> None:
    panel.show()
    edit = named(panel, QPlainTextEdit, "System prompt")
    with qtbot.waitSignal(panel.values_changed):
        qtbot.keyClicks(edit, "Be brief.")
    assert panel.system_prompt() == "Be brief."
    assert panel.values() == {}
    with qtbot.assertNotEmitted(panel.values_changed):
        panel.set_system_prompt("Other")
    assert edit.toPlainText() == "Other"


# -- set_values ------------------------------------------------------------------


def test_set_values_round_trip(qtbot: QtBot, panel: ParamsPanel) -> None:
    values: dict[str, ParamValue] = {
        "temperature": 0.3, "top_k": 40, "frequency_penalty": -2.0, "repetition_penalty": 2.0,
        "max_tokens": 1024, "seed": 42, "stop": ["a\nb", "\\x"],
    }
    with qtbot.assertNotEmitted(panel.values_changed):
        panel.set_values(values)
    assert panel.values() == values
    assert panel.slider("temperature").value() == 6
    panel.set_values({"top_p": 0.5})  # everything missing goes back to default
    assert panel.values() == {"top_p": 0.5}
    assert not panel.spin_box("seed").isEnabled()


def test_set_values_ignores_what_it_cannot_show(
    panel: ParamsPanel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chatroom.ui.params_panel")
    panel.set_values({
        "temperature": 5.0, "top_k": 1.5, "bogus": 1, "seed": 2**40,
        "stop": ["a", "b", "c", "d", "e"], "top_p": 0.2,
    })
    assert panel.values() == {"top_p": 0.2}
    logged = caplog.text
    for key in ("temperature", "top_k", "bogus", "seed", "stop"):
        assert key in logged
    assert all(r.levelno == logging.INFO for r in caplog.records)


def test_render(qtbot: QtBot, panel: ParamsPanel) -> None:
    """Grabbing the panel at the narrowest width works (see the PNG by hand)."""
    panel.set_values({"temperature": 0.7, "max_tokens": 512, "stop": ["###"]})
    panel.resize(panel.minimumSizeHint().width(), 600)
    panel.show()
    assert not panel.grab().isNull()


# -- supported parameters --------------------------------------------------------

HAIKU_REASON = unsupported_reason("claude-3.5-haiku")


def test_unsupported_parameters_are_disabled_and_not_sent(panel: ParamsPanel) -> None:
    panel.set_values({"temperature": 0.5, "top_k": 40, "seed": 7, "stop": ["###"]})
    panel.set_supported(lambda key: key not in ("top_k", "seed", "stop"), HAIKU_REASON)
    assert panel.values() == {"temperature": 0.5}
    tip = "claude-3.5-haiku does not list top_k in its supported parameters; it is not sent."
    for widget in (panel.spin_box("top_k"), panel.slider("top_k"),
                   named(panel, QToolButton, "Reset top_k")):
        assert not widget.isEnabled()
        assert widget.toolTip() == tip
    check = named(panel, QCheckBox, "seed enabled")
    assert not check.isEnabled()
    assert "does not list seed" in check.toolTip()
    assert not named(panel, QPlainTextEdit, "stop").isEnabled()
    assert panel.spin_box("temperature").isEnabled()
    assert not panel.is_supported("top_k") and panel.is_supported("temperature")
    assert any(w.text() == "default 0 · not sent" for w in panel.findChildren(QLabel))
    panel.set_supported(None)  # a model that takes everything: the kept values are sent again
    assert panel.values() == {"temperature": 0.5, "top_k": 40, "seed": 7, "stop": ["###"]}
    assert panel.spin_box("top_k").isEnabled()
    assert SPECS_BY_KEY["top_k"].help in panel.spin_box("top_k").toolTip()


def test_unsupported_reason_defaults_to_a_generic_text(panel: ParamsPanel) -> None:
    panel.set_supported(lambda key: key != "min_p")
    assert panel.spin_box("min_p").toolTip() == NOT_SUPPORTED_REASON.replace("{key}", "min_p")


# -- recommended values -----------------------------------------------------------


def test_recommended_values_are_shown_beside_their_controls(panel: ParamsPanel) -> None:
    panel.show()
    apply = named(panel, QPushButton, "Apply recommended")
    assert not apply.isVisible()
    panel.set_recommended(
        {"temperature": (0.2, 0.7, 1.0), "top_k": (0.0, 40.0, 100.0), "top_p": (math.nan, 1.0, 1.0)},
        "Recommended values: what others send.",
    )
    assert named(panel, QLabel, "temperature recommended").text() == "p10 0.2 · p50 0.7 · p90 1.0"
    assert named(panel, QLabel, "top_k recommended").text() == "p10 0 · p50 40 · p90 100"
    assert not named(panel, QLabel, "top_p recommended").isVisible()  # no made-up numbers
    assert panel.recommended_note() == "Recommended values: what others send."
    assert apply.isVisible()
    assert panel.values() == {}  # showing is not applying


def test_no_recommended_values_shows_only_the_note(panel: ParamsPanel) -> None:
    panel.show()
    panel.set_recommended({"temperature": (0.2, 0.7, 1.0)}, "")
    panel.set_recommended(None, "Recommended values: not offered by this endpoint.")
    assert panel.recommended_note() == "Recommended values: not offered by this endpoint."
    assert not panel.has_recommended()
    assert not named(panel, QPushButton, "Apply recommended").isVisible()
    assert not any(w.text().startswith("p10") for w in panel.findChildren(QLabel) if w.isVisible())


def test_apply_recommended_sets_p50_clamped_and_supported(qtbot: QtBot, panel: ParamsPanel) -> None:
    panel.show()
    panel.set_recommended(
        {"temperature": (0.2, 0.7, 1.0), "top_p": (0.5, 1.5, 2.0), "top_k": (0, 40, 100),
         "min_p": (0.0, 0.1, 0.2)},
        "",
    )
    panel.set_supported(lambda key: key != "min_p")
    emitted: list[None] = []
    panel.values_changed.connect(lambda: emitted.append(None))
    qtbot.mouseClick(named(panel, QPushButton, "Apply recommended"), Qt.MouseButton.LeftButton)
    assert len(emitted) == 1
    # top_p's p50 1.5 is beyond its range: clamped to 1.0, its default, so not sent.
    assert panel.values() == {"temperature": 0.7, "top_k": 40}
    spin = panel.spin_box("min_p")
    assert isinstance(spin, QDoubleSpinBox) and spin.value() == 0.0  # unsupported: untouched


# -- seat mode ----------------------------------------------------------------------


def seat_panel(
    panel: ParamsPanel, room: dict[str, ParamValue], seat: dict[str, ParamValue]
) -> ParamsPanel:
    panel.set_base_values(room)
    panel.set_values({**room, **seat})
    return panel


def test_room_mode_has_no_overrides(panel: ParamsPanel) -> None:
    panel.slider("temperature").setValue(4)
    assert panel.overrides() == {}
    assert not panel.is_seat_mode()


def test_seat_mode_unchanged_gives_no_overrides(panel: ParamsPanel) -> None:
    seat_panel(panel, {"temperature": 0.5, "max_tokens": 512, "stop": ["###"]}, {})
    assert panel.is_seat_mode()
    assert panel.overrides() == {}
    assert panel.values() == {"temperature": 0.5, "max_tokens": 512, "stop": ["###"]}
    assert not named(panel, QPushButton, "Reset all parameters").isVisibleTo(panel)
    assert any(w.text() == "room 0.5" for w in panel.findChildren(QLabel))


def test_seat_mode_overrides_include_a_return_to_default(panel: ParamsPanel) -> None:
    panel.show()
    seat_panel(panel, {"temperature": 0.5}, {"top_p": 0.9})
    assert panel.overrides() == {"top_p": 0.9}
    spin = panel.spin_box("temperature")
    assert isinstance(spin, QDoubleSpinBox)
    spin.setValue(1.0)  # the default, but the room has 0.5: the seat must say so
    assert panel.overrides() == {"temperature": 1.0, "top_p": 0.9}
    label = next(w for w in panel.findChildren(QLabel) if w.text() == "temperature")
    assert label.font().bold()
    assert named(panel, QLabel, "temperature differs from the room").isVisible()
    spin.setValue(0.5)
    assert panel.overrides() == {"top_p": 0.9}
    assert not label.font().bold()
    assert not named(panel, QLabel, "temperature differs from the room").isVisible()


def test_seat_mode_optional_parameters(panel: ParamsPanel) -> None:
    seat_panel(panel, {"max_tokens": 512}, {})
    check = named(panel, QCheckBox, "max_tokens enabled")
    assert check.isChecked() and not check.isEnabled()  # a seat cannot unset the room's
    spin = panel.spin_box("max_tokens")
    assert isinstance(spin, QSpinBox)
    spin.setValue(100)
    assert panel.overrides() == {"max_tokens": 100}
    seed = named(panel, QCheckBox, "seed enabled")
    assert seed.isEnabled()
    seed.setChecked(True)
    seed_spin = panel.spin_box("seed")
    assert isinstance(seed_spin, QSpinBox)
    assert panel.overrides()["seed"] == seed_spin.value()
    seed.setChecked(False)
    assert "seed" not in panel.overrides()


def test_seat_mode_stop_sequences(panel: ParamsPanel) -> None:
    seat_panel(panel, {"stop": ["###"]}, {})
    edit = named(panel, QPlainTextEdit, "stop")
    edit.setPlainText("END")
    assert panel.overrides() == {"stop": ["END"]}
    edit.clear()  # clearing the room's stops is an override too: an empty list
    assert panel.overrides() == {"stop": []}
    edit.setPlainText("###")
    assert panel.overrides() == {}


def test_seat_mode_reset_returns_to_the_room(qtbot: QtBot, panel: ParamsPanel) -> None:
    panel.show()
    seat_panel(panel, {"temperature": 0.5, "stop": ["###"]}, {"temperature": 0.9, "top_k": 5, "stop": []})
    reset = named(panel, QToolButton, "Reset temperature")
    assert reset.isEnabled()
    assert reset.toolTip() == "Reset temperature to the room's value (0.5)"
    qtbot.mouseClick(reset, Qt.MouseButton.LeftButton)
    assert panel.overrides() == {"top_k": 5, "stop": []}
    emitted: list[None] = []
    panel.values_changed.connect(lambda: emitted.append(None))
    panel.reset_all()
    assert panel.overrides() == {}
    assert panel.values() == {"temperature": 0.5, "stop": ["###"]}
    assert len(emitted) == 1


def test_seat_mode_leaves_out_unsupported_overrides(panel: ParamsPanel) -> None:
    seat_panel(panel, {"top_k": 20}, {"top_k": 40, "temperature": 0.3})
    panel.set_supported(lambda key: key != "top_k", HAIKU_REASON)
    assert panel.overrides() == {"temperature": 0.3}
    panel.set_base_values(None)  # back to room mode
    assert panel.overrides() == {}
    assert named(panel, QPushButton, "Reset all parameters").isVisibleTo(panel)
