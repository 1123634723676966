"""ModelPicker: filter, numeric sort, endpoint groups, keyboard use, free-text ids."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from PySide6.QtCore import QModelIndex, QPoint, Qt
from PySide6.QtWidgets import QDialog, QPushButton
from pytestqt.qtbot import QtBot

from chatroom.core.catalog import Catalog, ModelInfo, Pricing
from chatroom.ui.model_picker import (
    COLUMNS,
    ModelPicker,
    format_count,
    format_modalities,
    format_price,
)

# The offscreen platform says this on every first show(); it is not our bug.
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints")

INPUT_PRICE = COLUMNS.index("Input $/M")
CONTEXT = COLUMNS.index("Context")


def model(
    model_id: str,
    *,
    name: str | None = None,
    endpoint: str = "openrouter",
    prompt: str | None = None,
    completion: str = "0",
    context: int | None = None,
    max_output: int | None = None,
    modalities: tuple[tuple[str, ...], tuple[str, ...]] = ((), ()),
) -> ModelInfo:
    """A ModelInfo; `prompt` and `completion` are USD per token as OpenRouter lists them."""
    pricing = None if prompt is None else Pricing(Decimal(prompt), Decimal(completion))
    return ModelInfo(
        id=model_id,
        name=name or model_id,
        endpoint=endpoint,
        context_length=context,
        max_output=max_output,
        pricing=pricing,
        input_modalities=modalities[0],
        output_modalities=modalities[1],
    )


OPENROUTER_MODELS = [
    # Input prices per million: 10, 2, 0.5, free, unknown. As strings "$10.00" < "$2.00".
    model("anthropic/claude-3.5-haiku", name="Anthropic: Claude 3.5 Haiku",
          prompt="0.000010", completion="0.00004", context=200_000, max_output=8192,
          modalities=(("text", "image"), ("text",))),
    model("openai/gpt-4o-mini", name="OpenAI: GPT-4o-mini", prompt="0.000002", context=128_000),
    model("mistralai/mistral-small", name="Mistral Small", prompt="0.0000005", context=32_000),
    model("meta-llama/llama-3.1-8b-instruct:free", name="Meta: Llama 3.1 8B Instruct (free)",
          prompt="0", context=None),
    model("openrouter/auto", name="Auto Router", prompt=None, context=2_000_000),
]
LOCAL_MODELS = [model("qwen2.5-7b-instruct", endpoint="local")]


def catalogs(*extra: Catalog) -> dict[str, Catalog]:
    found = {
        "openrouter": Catalog("openrouter", list(OPENROUTER_MODELS), time.time()),
        "local": Catalog("local", list(LOCAL_MODELS), time.time()),
    }
    found.update({c.endpoint: c for c in extra})
    return found


@pytest.fixture
def picker(qtbot: QtBot) -> ModelPicker:
    dialog = ModelPicker(catalogs())
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def ids(picker: ModelPicker) -> list[str]:
    return [model_id for _, model_id in picker.visible_models()]


def top_rows(picker: ModelPicker) -> list[str]:
    proxy = picker.view().model()
    return [proxy.index(row, 0).data() for row in range(proxy.rowCount())]


def children(picker: ModelPicker, group: int) -> list[str]:
    proxy = picker.view().model()
    parent = proxy.index(group, 0)
    return [proxy.index(row, 0, parent).data() for row in range(proxy.rowCount(parent))]


def cell(picker: ModelPicker, model_id: str, column: int) -> str:
    proxy = picker.view().model()
    for group in range(proxy.rowCount()):
        parent = proxy.index(group, 0)
        for row in range(proxy.rowCount(parent)):
            if proxy.index(row, 0, parent).data() == model_id:
                return str(proxy.index(row, column, parent).data())
    raise KeyError(model_id)


def click_header(qtbot: QtBot, picker: ModelPicker, column: int) -> None:
    header = picker.view().header()
    x = header.sectionViewportPosition(column) + header.sectionSize(column) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, header.height() // 2))


# -- formatting ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("per_million", "text"),
    [
        (Decimal("0.15"), "$0.15"),
        (Decimal("3"), "$3.00"),
        (Decimal("0.075"), "$0.075"),
        (Decimal("0.0000008") * 1_000_000, "$0.80"),
        (Decimal(0), "free"),
        (None, "—"),
    ],
)
def test_format_price(per_million: Decimal | None, text: str) -> None:
    assert format_price(per_million) == text


def test_format_count_and_modalities() -> None:
    assert format_count(128_000) == "128,000"
    assert format_count(None) == "—"
    both = model("x", modalities=(("text", "image"), ("text",)))
    assert format_modalities(both) == "text+image → text"
    assert format_modalities(model("y")) == "—"
    assert format_modalities(model("z", modalities=(("text",), ()))) == "text → ?"


def test_columns_show_the_catalogue(picker: ModelPicker) -> None:
    haiku = "anthropic/claude-3.5-haiku"
    row = [cell(picker, haiku, column) for column in range(len(COLUMNS))]
    assert row == [haiku, "200,000", "8,192", "$10.00", "$40.00", "text+image → text"]
    assert cell(picker, "meta-llama/llama-3.1-8b-instruct:free", INPUT_PRICE) == "free"
    assert cell(picker, "openrouter/auto", INPUT_PRICE) == "—"
    assert cell(picker, "meta-llama/llama-3.1-8b-instruct:free", CONTEXT) == "—"


def test_model_name_is_the_tooltip(picker: ModelPicker) -> None:
    proxy = picker.view().model()
    parent = proxy.index(0, 0)
    tips = {
        proxy.index(r, 0, parent).data(): proxy.index(r, 0, parent).data(Qt.ItemDataRole.ToolTipRole)
        for r in range(proxy.rowCount(parent))
    }
    assert tips["anthropic/claude-3.5-haiku"] == "Anthropic: Claude 3.5 Haiku"


# -- groups and notes -------------------------------------------------------------


def test_models_are_grouped_by_endpoint(picker: ModelPicker) -> None:
    assert picker.windowTitle() == "Add a model"
    assert top_rows(picker) == ["openrouter (5 models)", "local (1 model)"]
    assert children(picker, 1) == ["qwen2.5-7b-instruct"]
    assert len(children(picker, 0)) == 5
    assert picker.view().isExpanded(picker.view().model().index(1, 0))


def test_a_catalogue_with_an_error_says_so(qtbot: QtBot) -> None:
    broken = Catalog("gateway", [], time.time(), error="/models answered 404")
    dialog = ModelPicker(catalogs(broken))
    qtbot.addWidget(dialog)
    assert top_rows(dialog)[2] == "gateway (0 models)"
    assert children(dialog, 2) == [
        "No catalogue: /models answered 404. Type a model id in the seat bar instead."
    ]
    qtbot.keyClicks(dialog.filter_edit(), "zzz")  # the note stays while filtering
    assert len(children(dialog, 2)) == 1


# -- filtering ---------------------------------------------------------------------


def test_filter_narrows_rows(qtbot: QtBot, picker: ModelPicker) -> None:
    assert picker.focusWidget() is picker.filter_edit()
    assert picker.filter_edit().accessibleName() == "Filter models"
    qtbot.keyClicks(picker.filter_edit(), "HAIKU")  # case-insensitive
    assert ids(picker) == ["anthropic/claude-3.5-haiku"]
    assert top_rows(picker) == ["openrouter (1 of 5 models)", "local (0 of 1 model)"]
    picker.filter_edit().setText("llama instruct")  # every word, anywhere in id or name
    assert ids(picker) == ["meta-llama/llama-3.1-8b-instruct:free"]
    picker.filter_edit().setText("instruct")
    assert ids(picker) == ["meta-llama/llama-3.1-8b-instruct:free", "qwen2.5-7b-instruct"]
    picker.filter_edit().setText("mistral small")  # the name matches too
    assert ids(picker) == ["mistralai/mistral-small"]
    picker.filter_edit().clear()
    assert len(ids(picker)) == 6
    assert top_rows(picker) == ["openrouter (5 models)", "local (1 model)"]


def test_filtering_500_models_stays_fast(qtbot: QtBot) -> None:
    many = [model(f"vendor{i % 40}/model-{i}", prompt=f"0.00000{i % 9}") for i in range(600)]
    started = time.perf_counter()
    dialog = ModelPicker({"openrouter": Catalog("openrouter", many, time.time())})
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.filter_edit(), "model-59")
    elapsed_s = time.perf_counter() - started
    assert ids(dialog) == ["vendor19/model-59", *(f"vendor{i % 40}/model-{i}" for i in range(590, 600))]
    # Not a speed goal (bench_* are): a bound that only a pathological slowdown breaks.
    assert elapsed_s < 15.0  # about 0.1 s here


# -- sorting ---------------------------------------------------------------------------


def test_sort_by_input_price_is_numeric_with_unknown_last(qtbot: QtBot, picker: ModelPicker) -> None:
    header = picker.view().header()
    click_header(qtbot, picker, INPUT_PRICE)
    assert header.sortIndicatorSection() == INPUT_PRICE
    assert header.sortIndicatorOrder() == Qt.SortOrder.AscendingOrder
    assert children(picker, 0) == [
        "meta-llama/llama-3.1-8b-instruct:free",  # free = 0
        "mistralai/mistral-small",  # $0.50
        "openai/gpt-4o-mini",  # $2.00
        "anthropic/claude-3.5-haiku",  # $10.00 (as a string it would sort before $2.00)
        "openrouter/auto",  # unknown: last
    ]
    click_header(qtbot, picker, INPUT_PRICE)
    assert header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
    assert children(picker, 0) == [
        "anthropic/claude-3.5-haiku",
        "openai/gpt-4o-mini",
        "mistralai/mistral-small",
        "meta-llama/llama-3.1-8b-instruct:free",
        "openrouter/auto",  # unknown: last in either order
    ]
    assert top_rows(picker) == ["openrouter (5 models)", "local (1 model)"]  # groups stay put


def test_sort_by_context_is_numeric(picker: ModelPicker) -> None:
    picker.view().sortByColumn(CONTEXT, Qt.SortOrder.DescendingOrder)
    assert children(picker, 0) == [
        "openrouter/auto",  # 2,000,000
        "anthropic/claude-3.5-haiku",  # 200,000
        "openai/gpt-4o-mini",  # 128,000
        "mistralai/mistral-small",  # 32,000
        "meta-llama/llama-3.1-8b-instruct:free",  # unknown: last in either order
    ]


# -- choosing ---------------------------------------------------------------------------


def test_enter_in_the_filter_chooses_the_first_match(qtbot: QtBot, picker: ModelPicker) -> None:
    qtbot.keyClicks(picker.filter_edit(), "gpt")
    with qtbot.waitSignal(picker.model_chosen) as blocker:
        qtbot.keyClick(picker.filter_edit(), Qt.Key.Key_Return)
    assert blocker.args == ["openrouter", "openai/gpt-4o-mini"]
    assert picker.chosen() == ("openrouter", "openai/gpt-4o-mini")
    assert picker.result() == QDialog.DialogCode.Accepted
    assert not picker.isVisible()


def test_down_then_enter_chooses_from_the_list(qtbot: QtBot, picker: ModelPicker) -> None:
    qtbot.keyClicks(picker.filter_edit(), "instruct")
    current = picker.current_model()
    assert current is not None and current.id == "meta-llama/llama-3.1-8b-instruct:free"
    qtbot.keyClick(picker.filter_edit(), Qt.Key.Key_Down)
    assert picker.focusWidget() is picker.view()
    # The first match was current already: Down moved on to the "local" row, then to its model.
    assert picker.current_model() is None
    qtbot.keyClick(picker.view(), Qt.Key.Key_Down)
    with qtbot.waitSignal(picker.model_chosen) as blocker:
        qtbot.keyClick(picker.view(), Qt.Key.Key_Return)
    assert blocker.args == ["local", "qwen2.5-7b-instruct"]
    assert picker.chosen() == ("local", "qwen2.5-7b-instruct")


def test_down_from_the_filter_moves_one_row(qtbot: QtBot, picker: ModelPicker) -> None:
    qtbot.keyClick(picker.filter_edit(), Qt.Key.Key_Down)
    qtbot.keyClick(picker.view(), Qt.Key.Key_Enter)
    assert picker.chosen() == ("openrouter", "meta-llama/llama-3.1-8b-instruct:free")


def test_escape_cancels(qtbot: QtBot, picker: ModelPicker) -> None:
    qtbot.keyClicks(picker.filter_edit(), "gpt")
    with qtbot.assertNotEmitted(picker.model_chosen):
        qtbot.keyClick(picker.filter_edit(), Qt.Key.Key_Escape)
    assert picker.result() == QDialog.DialogCode.Rejected
    assert picker.chosen() is None
    assert not picker.isVisible()


def test_double_click_chooses(qtbot: QtBot, picker: ModelPicker) -> None:
    view = picker.view()
    proxy = view.model()
    index = proxy.index(1, 0, proxy.index(0, 0))
    rect = view.visualRect(index)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    with qtbot.waitSignal(picker.model_chosen):
        qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert picker.chosen() == ("openrouter", index.data())


def test_an_endpoint_row_is_not_a_choice(qtbot: QtBot, picker: ModelPicker) -> None:
    picker.view().setCurrentIndex(picker.view().model().index(0, 0))
    assert picker.current_model() is None
    with qtbot.assertNotEmitted(picker.model_chosen):
        qtbot.keyClick(picker.view(), Qt.Key.Key_Return)
    assert picker.isVisible()
    assert picker.view().currentIndex() != QModelIndex()


# -- free text -----------------------------------------------------------------------


def free_button(picker: ModelPicker) -> QPushButton:
    found = [b for b in picker.findChildren(QPushButton) if b.accessibleName() == "Use as a model id"]
    assert len(found) == 1
    return found[0]


def test_enter_uses_an_unlisted_id(qtbot: QtBot) -> None:
    dialog = ModelPicker({"openrouter": Catalog("openrouter", list(OPENROUTER_MODELS), time.time())})
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.filter_edit(), "acme/new-model")
    assert ids(dialog) == []
    button = free_button(dialog)
    assert button.isVisible()
    assert button.text() == "Use 'acme/new-model' as a model id"
    with qtbot.waitSignal(dialog.model_chosen) as blocker:
        qtbot.keyClick(dialog.filter_edit(), Qt.Key.Key_Return)
    assert blocker.args == ["openrouter", "acme/new-model"]
    assert dialog.chosen() == ("openrouter", "acme/new-model")


def test_the_free_text_button_names_the_endpoint(qtbot: QtBot, picker: ModelPicker) -> None:
    assert not free_button(picker).isVisible()
    qtbot.keyClicks(picker.filter_edit(), "gpt-4o")  # matches, yet may be meant as is
    button = free_button(picker)
    assert button.isVisible()
    assert button.text() == "Use 'gpt-4o' as a model id on openrouter"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert picker.chosen() == ("openrouter", "gpt-4o")


def test_no_free_text_for_listed_ids_or_several_words(qtbot: QtBot, picker: ModelPicker) -> None:
    qtbot.keyClicks(picker.filter_edit(), "openai/gpt-4o-mini")
    assert not free_button(picker).isVisible()
    picker.filter_edit().setText("no such words")
    assert picker.free_text() is None
    with qtbot.assertNotEmitted(picker.model_chosen):
        qtbot.keyClick(picker.filter_edit(), Qt.Key.Key_Return)
    assert picker.isVisible()


def test_render(qtbot: QtBot) -> None:
    """Grabbing the picker with 50 models works (the PNG was looked at by hand)."""
    many = [
        model(f"vendor{i % 7}/model-{i:02d}", prompt=f"0.00000{i % 9}", context=8192 * (i % 5 + 1))
        for i in range(50)
    ]
    dialog = ModelPicker({
        "openrouter": Catalog("openrouter", many, time.time()),
        "local": Catalog("local", [], time.time(), error="/models answered 404"),
    })
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.grab().isNull()
