"""A T-shirt's item list and size chart, written as the files a shop would import (CSV in UTF-8 or GBK, XLSX)."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from tests.helpers import body_of, make_event

TSHIRT = "600000000001"
HOODIE = "600000000002"
ITEMS_HEADER = ("商品ID", "标题", "面料", "产地", "版型", "尺码表")
ITEMS = (
    (TSHIRT, "纯棉圆领短袖T恤 男女同款", "95%棉 5%氨纶", "广东广州", "宽松", ""),
    (HOODIE, "加绒连帽卫衣", "80%棉 20%聚酯纤维", "浙江杭州", "", "卫衣尺码"),
)
CHART_HEADER = ("商品ID", "尺码", "身高", "体重", "胸围")
CHART = (
    (TSHIRT, "S", "150-158", "80-95", "96"),
    (TSHIRT, "M", "158-165", "95-110", "100"),
    (TSHIRT, "L", "165-172", "110-125", "104"),
    (TSHIRT, "XL", "172-178", "125-140", "108"),
    (TSHIRT, "2XL", "178-185", "140-160", "112"),
)
SHARED_HEADER = ("尺码表", "尺码", "身高(cm)", "体重(斤)")
SHARED = (
    ("卫衣尺码", "M", "155-165", "90-115"),
    ("卫衣尺码", "L", "165-175", "115-140"),
    ("卫衣尺码", "XL", "175-185", "140-170"),
)


def csv_bytes(header: Sequence[str], rows: Sequence[Sequence[str]], encoding: str = "utf-8") -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]], encoding: str = "utf-8") -> Path:
    path.write_bytes(csv_bytes(header, rows, encoding))
    return path


def write_xlsx(path: Path, sheets: dict[str, tuple[Sequence[str], Sequence[Sequence[object]]]]) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    first = True
    for title, (header, rows) in sheets.items():
        sheet = book.active if first else book.create_sheet()
        assert sheet is not None
        sheet.title = title
        sheet.append(list(header))
        for row in rows:
            sheet.append(list(row))
        first = False
    book.save(path)
    return path


def tshirt_files(directory: Path) -> list[Path]:
    """The item list (GBK, as Excel on a Chinese Windows saves it) and the size charts (UTF-8 with BOM)."""
    return [
        write_csv(directory / "items.csv", ITEMS_HEADER, ITEMS, "gbk"),
        write_csv(directory / "sizes.csv", CHART_HEADER, CHART, "utf-8-sig"),
        write_csv(directory / "shared.csv", SHARED_HEADER, SHARED),
    ]


async def say(client: TestClient, text: str, conversation: str, **fields: Any) -> dict[str, Any]:  # type: ignore[type-arg]
    """A customer's message posted to the service now; the service's answer."""
    fields.setdefault("ts", int(time.time() * 1000))
    resp = await client.post("/v1/events", data=body_of(make_event(conversation=conversation, text=text, **fields)))
    assert resp.status == 200, await resp.text()
    return await resp.json()  # type: ignore[no-any-return]


def top(body: dict[str, Any]) -> dict[str, Any]:
    """The first suggestion of an answer (there must be one)."""
    assert body["suggestions"], body
    return body["suggestions"][0]  # type: ignore[no-any-return]
