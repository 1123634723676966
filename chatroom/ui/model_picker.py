"""ModelPicker: the catalogues of all endpoints in one searchable, sortable tree.

The item model is built once per dialog; typing only re-runs the proxy's
filter, which stays fast with catalogues of 500+ models. Each endpoint is a
top-level row; a catalogue that could not be fetched says so under its row. A
model id that is in no catalogue can still be typed and used as it stands.

Keyboard: the filter has focus on open; Down moves into the list, Enter
chooses the current model (or the typed id when nothing matches), Esc cancels.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from decimal import Decimal
from typing import Final

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import QFont, QKeyEvent, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from chatroom.core.catalog import Catalog, ModelInfo

__all__ = [
    "COLUMNS",
    "ModelPicker",
    "format_count",
    "format_modalities",
    "format_price",
]

#: Header titles, in column order.
COLUMNS: Final = ("Model", "Context", "Max output", "Input $/M", "Output $/M", "Modalities")
_UNKNOWN: Final = "—"
_HINT_STYLE: Final = "color: palette(placeholder-text);"
_ERROR_STYLE: Final = "color: #b3261e;"
_CENTS: Final = Decimal("0.01")

Index = QModelIndex | QPersistentModelIndex


class _Role(enum.IntEnum):
    KIND = Qt.ItemDataRole.UserRole + 1
    SORT = Qt.ItemDataRole.UserRole + 2  # raw number (or lowercase text); None = unknown
    SEARCH = Qt.ItemDataRole.UserRole + 3  # lowercase "id name" of a model row
    MODEL = Qt.ItemDataRole.UserRole + 4  # index into ModelPicker._models
    ENDPOINT = Qt.ItemDataRole.UserRole + 5  # an endpoint row's name


class _Kind(enum.IntEnum):
    GROUP = 1
    NOTE = 2
    MODEL = 3


def format_price(per_million: Decimal | None) -> str:
    """'$0.15', '$3.00', '$0.075', 'free' (zero) or '—' (unknown); never rounded to a lie."""
    if per_million is None:
        return _UNKNOWN
    if per_million == 0:
        return "free"
    if per_million >= _CENTS and per_million == per_million.quantize(_CENTS):
        return f"${per_million:.2f}"
    return f"${format(per_million.normalize(), 'f')}"


def format_count(tokens: int | None) -> str:
    """A token count with thousands separators, or '—' when unknown."""
    return _UNKNOWN if tokens is None else f"{tokens:,}"


def format_modalities(model: ModelInfo) -> str:
    """'text+image → text'; '—' when the server names neither side."""
    if not model.input_modalities and not model.output_modalities:
        return _UNKNOWN
    inputs = "+".join(model.input_modalities) or "?"
    outputs = "+".join(model.output_modalities) or "?"
    return f"{inputs} → {outputs}"


def _first(index: Index) -> QModelIndex:
    """The first column of `index`'s row, which holds the row's kind and ids."""
    return index.sibling(index.row(), 0)


def _plural(count: int) -> str:
    return f"{count} model" if count == 1 else f"{count} models"


def _note_text(catalog: Catalog) -> str | None:
    if catalog.error:
        if catalog.models:
            return (
                f"Showing the cached list: the refresh failed ({catalog.error.rstrip('.')}). "
                "Prices and models may be out of date."
            )
        return f"No catalogue: {catalog.error.rstrip('.')}. Type a model id in the seat bar instead."
    if not catalog.models:
        return "This endpoint lists no models. Type a model id in the seat bar instead."
    return None


def _cell(text: str, sort_value: object, tooltip: str = "") -> QStandardItem:
    item = QStandardItem(text)
    item.setEditable(False)
    item.setData(sort_value, _Role.SORT)
    if tooltip:
        item.setToolTip(tooltip)
    return item


def _number_cell(text: str, sort_value: object, tooltip: str = "") -> QStandardItem:
    item = _cell(text, sort_value, tooltip)
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


def _model_tooltip(model: ModelInfo) -> str:
    return model.name if model.name != model.id else model.id


def _price_cells(model: ModelInfo) -> list[QStandardItem]:
    if model.pricing is None:
        return [_number_cell(_UNKNOWN, None, "Price not listed"),
                _number_cell(_UNKNOWN, None, "Price not listed")]
    prompt, completion = model.pricing.per_million()
    request = model.pricing.request
    extra = f"\nplus ${format(request.normalize(), 'f')} per request" if request else ""
    return [
        _number_cell(format_price(prompt), float(prompt),
                     f"{format_price(prompt)} per million input tokens{extra}"),
        _number_cell(format_price(completion), float(completion),
                     f"{format_price(completion)} per million output tokens{extra}"),
    ]


def _model_row(model: ModelInfo, number: int) -> list[QStandardItem]:
    first = _cell(model.id, model.id.lower(), _model_tooltip(model))
    first.setData(_Kind.MODEL, _Role.KIND)
    first.setData(f"{model.id} {model.name}".lower(), _Role.SEARCH)
    first.setData(number, _Role.MODEL)
    modalities = format_modalities(model)
    return [
        first,
        _number_cell(format_count(model.context_length), model.context_length,
                     "Context window in tokens"),
        _number_cell(format_count(model.max_output), model.max_output,
                     "Longest reply in tokens (the top provider's limit)"),
        *_price_cells(model),
        _cell(modalities, None if modalities == _UNKNOWN else modalities, "input → output"),
    ]


class _ModelFilter(QSortFilterProxyModel):
    """Keeps the models whose id or name holds every word typed; sorts numbers as numbers.

    Endpoint rows and their notes always stay. Unknown values sort last in
    either direction, notes first, and endpoints keep their given order.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._words: list[str] = []

    def set_text(self, text: str) -> None:
        words = text.lower().split()
        if words == self._words:
            return
        begin = getattr(self, "beginFilterChange", None)
        if begin is None:  # Qt < 6.10
            self._words = words
            self.invalidateFilter()
            return
        begin()
        self._words = words
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def is_filtering(self) -> bool:
        return bool(self._words)

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        index = self.sourceModel().index(source_row, 0, source_parent)
        if index.data(_Role.KIND) != _Kind.MODEL:
            return True
        haystack = index.data(_Role.SEARCH)
        return isinstance(haystack, str) and all(word in haystack for word in self._words)

    def lessThan(self, source_left: Index, source_right: Index) -> bool:
        descending = self.sortOrder() == Qt.SortOrder.DescendingOrder
        if not source_left.parent().isValid():  # endpoints: keep the catalogues' order
            return (source_left.row() < source_right.row()) != descending
        left_rank, left = self._rank(source_left)
        right_rank, right = self._rank(source_right)
        if left_rank != right_rank:
            # XOR with the direction: notes stay first and unknowns last either way.
            return (left_rank < right_rank) != descending
        if isinstance(left, str) or isinstance(right, str):
            if str(left) != str(right):
                return str(left) < str(right)
        elif left is not None and right is not None and left != right:
            return left < right
        # Ties (and two unknowns) by model id, ascending in either direction.
        left_id = str(_first(source_left).data(_Role.SORT))
        right_id = str(_first(source_right).data(_Role.SORT))
        return (left_id < right_id) != descending

    @staticmethod
    def _rank(index: Index) -> tuple[int, float | str | None]:
        """(0 note, 1 known, 2 unknown) and the value to compare."""
        if _first(index).data(_Role.KIND) == _Kind.NOTE:
            return 0, None
        value = index.data(_Role.SORT)
        if isinstance(value, int | float | str):
            return 1, value
        return 2, None


class ModelPicker(QDialog):
    """Choose a model from the endpoints' catalogues, or type an id that none lists.

    Signals:
        model_chosen(str, str): the endpoint and model id the user chose, just
            before the dialog closes with accept().
    """

    model_chosen = Signal(str, str)

    def __init__(
        self,
        catalogs: Mapping[str, Catalog],
        parent: QWidget | None = None,
        *,
        default_endpoint: str = "openrouter",
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add a model")
        self._catalogs = dict(catalogs)
        self._default_endpoint = default_endpoint
        self._models: list[ModelInfo] = []
        self._groups: list[tuple[QStandardItem, int]] = []  # endpoint row, model count
        self._known_ids: set[str] = set()
        self._chosen: tuple[str, str] | None = None
        self._filter_edit = QLineEdit()
        self._source = QStandardItemModel(0, len(COLUMNS), self)
        self._proxy = _ModelFilter(self)
        self._view = QTreeView()
        self._details = QLabel()
        self._free_button = QPushButton()
        self._buttons = QDialogButtonBox()
        self._add_button = self._buttons.addButton("Add", QDialogButtonBox.ButtonRole.AcceptRole)
        self._buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self._fill_model()
        self._build()
        self._connect()
        self._select_first_model()
        self._update_actions()

    # -- construction ----------------------------------------------------

    def _fill_model(self) -> None:
        self._source.setHorizontalHeaderLabels(list(COLUMNS))
        for column in range(1, len(COLUMNS) - 1):  # the numbers, right-aligned like their cells
            self._source.setHeaderData(
                column, Qt.Orientation.Horizontal,
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                Qt.ItemDataRole.TextAlignmentRole,
            )
        for endpoint, catalog in self._catalogs.items():
            group = _cell(endpoint, endpoint.lower())
            group.setData(_Kind.GROUP, _Role.KIND)
            group.setData(endpoint, _Role.ENDPOINT)
            font = group.font()
            font.setWeight(QFont.Weight.Bold)
            group.setFont(font)
            note = _note_text(catalog)
            if note is not None:
                line = _cell(note, None, note)
                line.setData(_Kind.NOTE, _Role.KIND)
                line.setForeground(QApplication.palette().placeholderText())
                line.setFlags(Qt.ItemFlag.ItemIsEnabled)
                group.appendRow(line)
            for model in catalog.models:
                group.appendRow(_model_row(model, len(self._models)))
                self._models.append(model)
                self._known_ids.add(model.id)
            self._source.appendRow(group)
            self._groups.append((group, len(catalog.models)))
        self._proxy.setSourceModel(self._source)
        self._update_group_titles()

    def _build(self) -> None:
        self._filter_edit.setAccessibleName("Filter models")
        self._filter_edit.setPlaceholderText("Type to filter by id or name, e.g. “claude haiku”")
        self._filter_edit.setClearButtonEnabled(True)
        self._filter_edit.installEventFilter(self)
        view = self._view
        view.setAccessibleName("Models")
        view.setModel(self._proxy)
        view.setUniformRowHeights(True)  # no per-row size hints: fast with 500+ rows
        view.setAlternatingRowColors(True)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.setAllColumnsShowFocus(True)
        view.setSortingEnabled(True)
        view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self._size_columns()
        self._span_rows()
        view.expandAll()
        self._details.setWordWrap(True)
        self._details.setAccessibleName("Model details")
        self._details.setStyleSheet(_HINT_STYLE)
        self._details.setTextFormat(Qt.TextFormat.PlainText)
        self._free_button.setAccessibleName("Use as a model id")
        self._free_button.setAutoDefault(False)
        self._free_button.hide()
        self._add_button.setDefault(True)
        bottom = QHBoxLayout()
        bottom.addWidget(self._free_button)
        bottom.addStretch(1)
        bottom.addWidget(self._buttons)
        layout = QVBoxLayout(self)
        layout.addWidget(self._filter_edit)
        layout.addWidget(view, 1)
        layout.addWidget(self._details)
        layout.addLayout(bottom)
        self.resize(940, 560)
        self._filter_edit.setFocus()

    def _size_columns(self) -> None:
        header = self._view.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        metrics = self._view.fontMetrics()
        samples = ("", "1,000,000", "1,000,000", "$15.00", "$75.00", "text+image+file → text")
        padding = 4 * metrics.averageCharWidth() + 16  # margins and the sort arrow
        for column in range(1, len(COLUMNS)):
            wide = max(metrics.horizontalAdvance(samples[column]),
                       metrics.horizontalAdvance(COLUMNS[column]))
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(column, wide + padding)
        self._view.setMinimumWidth(
            sum(header.sectionSize(c) for c in range(1, len(COLUMNS)))
            + metrics.horizontalAdvance("x" * 36)
        )

    def _span_rows(self) -> None:
        """Endpoint titles and notes take the whole width (spans follow sorting)."""
        root = QModelIndex()
        for row in range(self._proxy.rowCount(root)):
            group = self._proxy.index(row, 0, root)
            self._view.setFirstColumnSpanned(row, root, True)
            for child in range(self._proxy.rowCount(group)):
                if self._proxy.index(child, 0, group).data(_Role.KIND) == _Kind.NOTE:
                    self._view.setFirstColumnSpanned(child, group, True)

    def _connect(self) -> None:
        self._filter_edit.textChanged.connect(self.on_filter_edit_text_changed)
        self._view.doubleClicked.connect(self.on_view_double_clicked)
        self._view.selectionModel().currentChanged.connect(self.on_view_current_changed)
        self._free_button.clicked.connect(self.on_free_button_clicked)
        self._buttons.accepted.connect(self.accept)
        self._buttons.rejected.connect(self.reject)

    # -- public API ------------------------------------------------------

    def chosen(self) -> tuple[str, str] | None:
        """(endpoint, model id) after the user chose one; None after Cancel."""
        return self._chosen

    def filter_edit(self) -> QLineEdit:
        return self._filter_edit

    def view(self) -> QTreeView:
        return self._view

    def visible_models(self) -> list[tuple[str, str]]:
        """(endpoint, model id) of every row the filter keeps, in the order shown."""
        shown: list[tuple[str, str]] = []
        root = QModelIndex()
        for row in range(self._proxy.rowCount(root)):
            group = self._proxy.index(row, 0, root)
            for child in range(self._proxy.rowCount(group)):
                model = self._model_at(self._proxy.index(child, 0, group))
                if model is not None:
                    shown.append((model.endpoint, model.id))
        return shown

    def current_model(self) -> ModelInfo | None:
        """The model of the current row, or None (an endpoint row, a note, nothing)."""
        return self._model_at(self._view.currentIndex())

    def free_text(self) -> str | None:
        """The typed text as a model id, when it could be one and no listed id equals it."""
        text = self._filter_edit.text().strip()
        if not text or any(c.isspace() for c in text) or text in self._known_ids:
            return None
        return text

    def accept(self) -> None:
        """Choose the current model; with no model left by the filter, the typed id."""
        model = self.current_model()
        if model is not None:
            self._choose(model.endpoint, model.id)
            return
        text = self.free_text()
        if text is not None and not self.visible_models():
            self._choose(self._free_text_endpoint(), text)

    # -- internals -------------------------------------------------------

    def _choose(self, endpoint: str, model_id: str) -> None:
        self._chosen = (endpoint, model_id)
        self.model_chosen.emit(endpoint, model_id)
        super().accept()

    def _model_at(self, index: Index) -> ModelInfo | None:
        if not index.isValid():
            return None
        number = _first(index).data(_Role.MODEL)
        return self._models[number] if isinstance(number, int) else None

    def _free_text_endpoint(self) -> str:
        """The endpoint of the current row, else the default one, else the first catalogue's."""
        current = self._view.currentIndex()
        while current.isValid() and current.parent().isValid():
            current = current.parent()
        if current.isValid():
            return str(_first(current).data(_Role.ENDPOINT))
        if self._default_endpoint in self._catalogs or not self._catalogs:
            return self._default_endpoint
        return next(iter(self._catalogs))

    def _first_model_index(self) -> QModelIndex:
        root = QModelIndex()
        for row in range(self._proxy.rowCount(root)):
            group = self._proxy.index(row, 0, root)
            for child in range(self._proxy.rowCount(group)):
                index = self._proxy.index(child, 0, group)
                if index.data(_Role.KIND) == _Kind.MODEL:
                    return index
        return QModelIndex()

    def _select_first_model(self) -> None:
        """Keep the current row on a visible model, so Enter in the filter chooses it."""
        if self.current_model() is not None:
            self._view.scrollTo(self._view.currentIndex())
            return
        first = self._first_model_index()
        if first.isValid():
            self._view.setCurrentIndex(first)
            self._view.scrollTo(first)
        else:
            # Nothing to choose: no highlighted endpoint row that Enter would ignore.
            self._view.selectionModel().clear()

    def _update_group_titles(self) -> None:
        filtering = self._proxy.is_filtering()
        for group, total in self._groups:
            endpoint = str(group.data(_Role.ENDPOINT))
            text = _plural(total)
            if filtering and total:
                proxy_group = self._proxy.mapFromSource(group.index())
                shown = sum(
                    1 for row in range(self._proxy.rowCount(proxy_group))
                    if self._proxy.index(row, 0, proxy_group).data(_Role.KIND) == _Kind.MODEL
                )
                text = f"{shown} of {text}"
            title = f"{endpoint} ({text})"
            if group.text() != title:
                group.setText(title)

    def _update_actions(self) -> None:
        model = self.current_model()
        text = self.free_text()
        self._free_button.setVisible(text is not None)
        if text is not None:
            where = f" on {self._free_text_endpoint()}" if len(self._catalogs) > 1 else ""
            self._free_button.setText(f"Use '{text}' as a model id{where}")
        self._add_button.setEnabled(
            model is not None or (text is not None and not self.visible_models())
        )
        self._details.setText(self._describe(model))

    def _describe(self, model: ModelInfo | None) -> str:
        if model is None:
            if self._proxy.is_filtering() and not self.visible_models():
                text = self.free_text()
                if text is not None:
                    return f"No model matches. Enter uses '{text}' as a model id."
                return "No model matches."
            return ""
        parameters = (
            "parameters not listed (all are sent)"
            if model.supported_parameters is None
            else "parameters: " + ", ".join(sorted(model.supported_parameters))
        )
        name = f"{model.name} · " if model.name != model.id else ""
        return f"{name}{model.id} on {model.endpoint} · {parameters}"

    # -- events and slots --------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._filter_edit and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            if event.key() in (Qt.Key.Key_Down, Qt.Key.Key_PageDown):
                self._enter_list(event)
                return True
        return super().eventFilter(watched, event)

    def _enter_list(self, event: QKeyEvent) -> None:
        """Move focus into the list; Down from a current model moves one row on."""
        self._view.setFocus(Qt.FocusReason.OtherFocusReason)
        if not self._view.currentIndex().isValid():
            self._select_first_model()
            return
        QApplication.sendEvent(self._view, QKeyEvent(event.type(), event.key(), event.modifiers()))

    @Slot(str)
    def on_filter_edit_text_changed(self, text: str) -> None:
        self._proxy.set_text(text)
        self._update_group_titles()
        self._view.expandAll()
        self._select_first_model()
        self._update_actions()

    @Slot(QModelIndex, QModelIndex)
    def on_view_current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        self._update_actions()

    @Slot(QModelIndex)
    def on_view_double_clicked(self, index: QModelIndex) -> None:
        model = self._model_at(index)
        if model is not None:
            self._choose(model.endpoint, model.id)

    @Slot()
    def on_free_button_clicked(self) -> None:
        text = self.free_text()
        if text is not None:
            self._choose(self._free_text_endpoint(), text)
