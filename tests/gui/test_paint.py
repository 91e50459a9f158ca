"""Really paint a plot: PySide6 6.12.0 crashes pyqtgraph 0.14 on the first paint
(none_dealloc), so a bad upgrade must fail here, not in a user's hands."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QImage


def _distinct_colours(img: QImage, step: int = 7) -> int:
    seen = set()
    for y in range(0, img.height(), step):
        for x in range(0, img.width(), step):
            seen.add(img.pixel(x, y))
    return len(seen)


def test_plotwidget_with_data_paints(qtbot, tmp_path):
    w = pg.PlotWidget()
    qtbot.addWidget(w)
    w.resize(400, 300)
    x = np.arange(5000, dtype=np.float64)
    item = w.plot(x, np.sin(x / 200), pen=pg.mkPen("#ffa94d", width=1), skipFiniteCheck=True)
    item.setClipToView(True)
    item.setDownsampling(auto=True, method="peak")
    w.show()
    qtbot.waitExposed(w)
    path = tmp_path / "plot.png"
    assert w.grab().save(str(path))
    img = QImage(str(path))
    assert img.width() > 0 and _distinct_colours(img) > 3


def test_image_and_colorbar_paint(qtbot, tmp_path):
    w = pg.GraphicsLayoutWidget()
    qtbot.addWidget(w)
    plot = w.addPlot()
    img_item = pg.ImageItem(np.random.default_rng(0).standard_normal((32, 32)).astype(np.float32),
                            axisOrder="row-major")
    plot.addItem(img_item)
    bar = pg.ColorBarItem(values=(-2, 2), colorMap=pg.colormap.get("CET-D1"))
    bar.setImageItem(img_item, insert_in=plot)
    w.resize(300, 300)
    w.show()
    qtbot.waitExposed(w)
    img = w.grab().toImage()
    assert _distinct_colours(img) > 10
