"""The kinds of fact buyers ask about an item: the column headers that hold each and the words that ask for it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Aspect:
    """One kind of fact: the attribute names (column headers) that hold it and the words buyers ask it with.

    `intents` are the matcher's intents that ask for this fact whatever the words (多久发货 is shipping_time);
    `fallback` the headers that answer when the item has none of `headers` (偏大吗 gets the 版型 then).
    """

    headers: tuple[str, ...]
    asks: tuple[str, ...]
    intents: tuple[str, ...] = ()
    fallback: tuple[str, ...] = ()

    def part(self, key: str, *, fallback: bool = False) -> str | None:
        """How a folded column header holds this aspect: "" when it is one of its headers, the words before the
        header when it ends with one (鞋面 of 鞋面材质, 适合 of 适合季节; 是否起球 is 起球), None when it does not.

        `fallback`: the aspect's fallback headers instead of its own.
        """
        headers = self.fallback if fallback else self.headers
        if key in headers:
            return ""
        if key.startswith(WHETHER) and key[len(WHETHER) :] in headers:
            return ""
        return next((key[: -len(h)] for h in headers if len(h) >= 2 and key.endswith(h)), None)


WHETHER = "是否"  # 是否起球, 是否掉色: a shop's header asking the question the value answers


# An attribute is asked about when the message names its column header, or a word of the aspect that header
# belongs to: 什么料子 finds 面料 as well as 材质 (docs/catalog.md lists them).
ASPECTS: tuple[Aspect, ...] = (
    Aspect(
        ("材质", "面料", "成分", "材料", "面料成分", "主面料", "材质成分", "填充物"),
        ("材质", "面料", "成分", "材料", "布料", "料子", "什么料", "啥料", "含棉", "纯棉吗", "棉的吗", "什么做的"),
    ),
    Aspect(
        ("产地", "原产地", "生产地", "产区", "发源地"),
        ("产地", "哪里产", "哪产", "哪里生产", "哪生产", "哪里做的", "哪做的", "国产吗", "进口吗", "原产", "哪里的货"),
    ),
    Aspect(
        ("保质期", "有效期", "保存期"),
        ("保质期", "保质多久", "有效期", "过期", "放多久", "保存多久", "能放几天", "放几天", "保存期"),
    ),
    Aspect(
        ("适用年龄", "适合年龄", "年龄段", "适用年龄段"),
        ("几岁", "多大孩子", "多大的孩子", "多大宝宝", "年龄", "多大的宝宝"),
    ),
    Aspect(("品牌",), ("品牌", "什么牌子", "哪个牌子", "牌子")),
    Aspect(("厚薄", "厚度"), ("厚不厚", "薄不薄", "厚吗", "薄吗", "厚度", "厚薄")),
    Aspect(("弹力", "弹性"), ("弹力", "弹性", "有弹", "弹不弹")),
    Aspect(("适用季节", "季节"), ("季节", "什么时候穿", "春秋", "夏天穿", "冬天穿", "四季")),
    Aspect(("版型",), ("版型", "宽松吗", "修身吗", "宽不宽松", "修不修身")),
    Aspect(
        ("尺码偏大偏小", "偏大偏小", "尺码偏差", "尺码偏大", "尺码偏小", "尺码标准"),
        (
            "偏大",
            "偏小",
            "大一码",
            "小一码",
            "大一号",
            "小一号",
            "标准码",
            "正码",
            "尺码准",
            "码数准",
            "尺码标准",
            "码数正常",
            "会不会大",
            "会不会小",
            "码数标准",
            "码准",
        ),
        fallback=("版型",),
    ),  # fmt: skip
    Aspect(("颜色", "颜色分类"), ("什么颜色", "几个颜色", "几种颜色", "哪些颜色", "有什么颜色", "几个色")),
    Aspect(("重量", "净重", "净含量"), ("多重", "多沉", "重量", "净含量", "几克", "多少克")),
    Aspect(("洗涤", "洗涤方式", "洗涤说明"), ("怎么洗", "机洗", "水洗", "怎么清洗", "能洗吗", "干洗")),
    Aspect(
        ("发货时间", "发货", "发货周期", "发货期", "预售发货时间"),
        (
            "发货时间",
            "几天发",
            "多久发",
            "什么时候发",
            "啥时候发",
            "几时发",
            "多久能发",
            "几天能发",
            "哪天发",
            "几号发",
        ),
        ("shipping_time",),
    ),
)
