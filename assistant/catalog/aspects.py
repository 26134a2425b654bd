"""The kinds of fact buyers ask about an item: the column headers that hold each and the words that ask for it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Aspect:
    """One kind of fact: the attribute names (column headers) that hold it and the words buyers ask it with.

    `intents` are the matcher's intents that ask for this fact whatever the words (多久发货 is shipping_time);
    `fallback` the headers that answer when the item has none of `headers` (偏大吗 gets the 版型 then);
    `claims` words that ask for it only in a yes/no question about them (是真皮吗, 含酒精吗, 油皮能用吗), not
    wherever they stand (真皮的多少钱 asks a price); `listed`: so do the words the item's value lists.
    """

    headers: tuple[str, ...]
    asks: tuple[str, ...]
    intents: tuple[str, ...] = ()
    fallback: tuple[str, ...] = ()
    claims: tuple[str, ...] = ()
    listed: bool = False  # a yes/no question names any word of the item's value (有核桃吗 of 配料表 …核桃仁…)

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
# Words a yes/no question names the fact by (是真皮吗, 是羊毛的吗, 有没有酒精, 含不含糖, 油皮能用吗, 冬天能穿吗).
MATERIALS = (
    "真皮", "牛皮", "羊皮", "猪皮", "皮革", "羊毛", "羊绒", "真丝", "桑蚕丝", "纯棉", "全棉", "棉", "麻", "亚麻",
    "涤纶", "聚酯纤维", "锦纶", "尼龙", "氨纶", "莫代尔", "实木", "不锈钢", "塑料", "硅胶", "陶瓷", "玻璃", "合金",
    "纯银", "纯金", "pu", "帆布", "牛津布", "316", "304", "铝合金", "竹", "木",
    # fabrics of clothes buyers name (是雪纺的吗, 是天丝的吗)
    "雪纺", "天丝", "莱赛尔", "醋酸", "粘纤", "人棉", "冰丝", "牛仔", "灯芯绒", "珊瑚绒", "法兰绒", "摇粒绒", "羊羔绒",
    "针织", "蕾丝", "貂绒", "涤棉", "棉麻",
)  # fmt: skip
INGREDIENTS = (
    "酒精", "香精", "香料", "色素", "防腐剂", "添加剂", "糖", "蔗糖", "激素", "荧光剂", "甲醛", "矿物油", "麸质",
    "花生", "坚果", "牛奶", "乳糖", "味精", "反式脂肪", "咖啡因", "酒", "硅油", "水杨酸", "烟酰胺",
)  # fmt: skip
SEASONS = ("春天", "夏天", "秋天", "冬天", "春季", "夏季", "秋季", "冬季", "春秋", "春夏", "秋冬", "四季")
SKINS = ("油皮", "干皮", "混油", "混干", "油性", "干性", "中性", "敏感肌", "敏感皮", "痘肌", "痘痘肌")
BATTERY = ("毫安", "mah", "电池多大", "电池容量", "电池多少", "电量多少", "多大电量", "电池大")
PORTS = ("type-c", "typec", "type c", "usb", "lightning", "苹果口", "安卓口", "c口", "雷电")
DEVICES = (
    "苹果手机", "安卓手机", "华为手机", "小米手机", "苹果", "iphone", "安卓", "华为", "小米", "oppo", "vivo", "荣耀", "三星", "红米", "一加", "ipad", "电脑",
    "平板", "mac", "windows", "鸿蒙",
)  # fmt: skip
PEOPLE = ("孕妇", "哺乳期", "儿童", "小孩", "宝宝", "老人", "学生", "男生", "女生", "男士", "女士")


# An attribute is asked about when the message names its column header, or a word of the aspect that header
# belongs to: 什么料子 finds 面料 as well as 材质 (docs/catalog.md lists them).
ASPECTS: tuple[Aspect, ...] = (
    Aspect(
        ("材质", "面料", "成分", "材料", "面料成分", "主面料", "材质成分", "填充物"),
        (
            "材质",
            "面料",
            "成分",
            "材料",
            "布料",
            "料子",
            "什么料",
            "啥料",
            "含棉",
            "棉含量",
            "纯棉吗",
            "棉的吗",
            "什么做的",
        ),
        claims=MATERIALS,
    ),
    Aspect(
        ("产地", "原产地", "生产地", "产区", "发源地"),
        ("产地", "哪里产", "哪产", "哪里生产", "哪生产", "哪里做的", "哪做的", "国产吗", "进口吗", "原产", "哪里的货"),
        claims=("国产", "进口"),  # 是国产的吗, 是进口的吗; 进口的多少钱 asks a price
    ),
    # Before 保质期: 开封后能用多久 (开封了保质期多久) asks the opened life, which the 保质期 column does not give.
    Aspect(
        ("开封后保质期", "开封保质期", "开封后使用期限", "开封后使用期", "开封后有效期", "开封后", "开封后保存期"),
        ("开封", "拆封", "打开后", "打开了", "开盖后"),
    ),
    Aspect(
        ("保质期", "有效期", "保存期"),
        ("保质期", "保质多久", "有效期", "过期", "放多久", "保存多久", "能放几天", "放几天", "保存期"),
    ),
    Aspect(
        ("适用年龄", "适合年龄", "年龄段", "适用年龄段"),
        ("几岁", "多大孩子", "多大的孩子", "多大宝宝", "年龄", "多大的宝宝"),
        # 三岁宝宝能穿吗, 3岁能穿吗, 八个月的宝宝可以穿吗 (宝宝3岁穿几码 asks a size)
        claims=("岁宝宝", "岁孩子", "岁小孩", "岁的宝宝", "岁的孩子", "岁", "个月宝宝", "个月的宝宝", "个月"),
    ),
    Aspect(("品牌",), ("品牌", "什么牌子", "哪个牌子", "牌子")),
    Aspect(
        ("厚薄", "厚度"),
        (
            "厚不厚",
            "薄不薄",
            "厚吗",
            "薄吗",
            "厚度",
            "厚薄",
            "厚实",
            "哪个厚",
            "哪个薄",
            "哪件厚",
            "哪件薄",
            "哪款厚",
            "哪款薄",
            "更厚",
            "更薄",
        ),
    ),  # fmt: skip
    Aspect(("弹力", "弹性"), ("弹力", "弹性", "有弹", "弹不弹")),
    Aspect(("适用季节", "季节"), ("季节", "什么时候穿", "春秋", "夏天穿", "冬天穿", "四季"), claims=SEASONS),
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
            # 需要拍大吗, 要不要拍大, 偏码吗, 码数正吗, 码子正不正: a fit note answers them (拍大了怎么办 asks no fit).
            "要拍大",
            "要拍小",
            "要不要拍",
            "用不用拍",
            "拍大吗",
            "拍小吗",
            "偏码",
            "码偏",
            "码数偏",
            "码子偏",
            "尺码正",
            "码数正",
            "码子正",
            "码正吗",
            "码正不正",
            "平时的码",
            "平常的码",
            # 按平时的尺码拍就行吗, 正常码就可以吗: whether the usual size will do
            "平时的尺码",
            "平常的尺码",
            "平时穿的码",
            "平常穿的码",
            "平时码",
            "平常码",
            "平时尺码",
            "平常尺码",
            "平时码数",
            "平常码数",
            "正常码",
            "正常的码",
        ),
        fallback=("版型",),
    ),  # fmt: skip
    Aspect(("颜色", "颜色分类"), ("什么颜色", "几个颜色", "几种颜色", "哪些颜色", "有什么颜色", "几个色")),
    Aspect(
        ("重量", "净重", "净含量"), ("多重", "多沉", "重量", "净含量", "几克", "多少克", "多少毫升", "几毫升", "多少ml")
    ),
    Aspect(
        ("洗涤", "洗涤方式", "洗涤说明", "清洗方式", "清洗方法"),
        ("怎么洗", "机洗", "水洗", "怎么清洗", "能洗吗", "干洗", "能不能洗", "可不可以洗", "可以洗吗", "能清洗"),
    ),
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
    Aspect(
        ("发货地", "发货地址", "发货城市", "发货仓", "发货仓库", "仓库"),
        (
            "哪里发货",
            "哪发货",
            "哪儿发货",
            "从哪发",
            "从哪里发",
            "从哪儿发",
            "哪里发的",
            "哪发的",
            "发货地",
            "哪个仓",
            "什么仓",
            "从哪寄",
            "哪里寄",
        ),
    ),
    Aspect(
        ("配料", "配料表", "原料", "原料表", "原材料", "全成分", "成分表", "主要成分", "成分"),
        ("配料", "原料", "添加剂", "含不含", "加了什么", "添加了什么", "含有什么", "有什么成分"),
        fallback=("材质", "面料", "材料", "面料成分", "材质成分"),
        claims=INGREDIENTS,
        listed=True,
    ),
    Aspect(
        ("生产日期", "生产时间", "出厂日期", "生产批次"),
        (
            "生产日期",
            "什么时候生产",
            "啥时候生产",
            "哪天生产",
            "几号生产",
            "几月生产",
            "几月份生产",
            "生产时间",
            "什么时候做的",
            "哪天做的",
        ),
    ),
    Aspect(
        ("储存方式", "储存条件", "贮存条件", "贮存方式", "保存方式", "保存方法", "保存条件", "存储方式", "储藏方法"),
        (
            "怎么保存",
            "如何保存",
            "怎么储存",
            "如何储存",
            "怎么存放",
            "怎么储藏",
            "要冷藏",
            "冷藏吗",
            "放冰箱",
            "要不要冷藏",
            "常温保存",
        ),
    ),
    Aspect(("起球", "抗起球"), ("起球", "起不起球", "起毛球", "毛球")),
    Aspect(("掉色", "褪色", "色牢度"), ("掉色", "掉不掉色", "褪色", "褪不褪色", "串色", "染色")),
    # 洗了会缩吗, 会不会缩: 缩 alone after a question of washing is the shrinking
    Aspect(("缩水", "缩水率"), ("缩水", "缩不缩", "会缩吗", "会不会缩", "缩吗", "会缩么", "缩么")),
    # 跟图片颜色一样吗, 有没有色差: whether the colour is the photo's
    Aspect(
        ("色差",),
        ("色差", "图片颜色", "照片颜色", "图片一样", "图一样", "照片一样", "颜色正吗", "颜色正不正", "颜色准"),
    ),
    Aspect(("透", "透明度", "透光", "透肉"), ("透不透", "透吗", "会透", "透明吗", "透不透明", "透光", "透肉", "走光")),
    Aspect(("适合肤质", "适用肤质", "肤质"), ("肤质", "什么皮肤", "哪种皮肤"), claims=SKINS),
    Aspect(
        ("尺寸", "商品尺寸", "产品尺寸", "外形尺寸", "规格尺寸", "长宽高", "大小"),
        ("尺寸", "有多大", "多大的", "多长", "多宽", "多高", "长宽高", "大小", "体积"),
    ),
    Aspect(
        ("容量", "容积", "净容量"),
        ("容量", "能装多少", "装多少", "多少毫升", "多少ml", "几毫升", "几升", "多少升", "多大容量", *BATTERY),
    ),
    # Electronics: 电池容量 is a 容量 (above), 充电时间 and 续航时间 are told apart by what the buyer counts.
    Aspect(
        ("续航", "续航时间", "续航时长", "使用时间", "使用时长", "待机时间", "待机时长", "电池续航"),
        ("续航", "能用多久", "能用几个小时", "能用几小时", "用多久", "用几个小时", "能撑多久", "待机多久", "耐用"),
    ),
    Aspect(
        ("充电时间", "充电时长", "充满时间", "充满电时间"),
        (
            "充电多久",
            "充电要多久",
            "充电几个小时",
            "充电几小时",
            "充满要",
            "充满需要",
            "多久充满",
            "多久能充满",
            "几个小时充满",
            "几小时充满",
            "充满电要",
            "充满电需要",
            "充一次电要",
        ),
    ),  # fmt: skip
    Aspect(
        ("接口", "充电接口", "接口类型", "充电口", "输入接口", "输出接口", "接口规格"),
        ("接口", "什么口", "啥口", "充电口", "充电线", "数据线"),
        claims=PORTS,
    ),
    Aspect(("蓝牙版本", "蓝牙"), ("蓝牙版本", "蓝牙几", "蓝牙多少", "蓝牙是几")),
    Aspect(("保修", "保修期", "质保", "质保期", "保修政策", "售后保障", "保修时间"), ("保修", "质保", "包修", "保固")),
    Aspect(("防水等级", "防水", "防水级别", "防水性能"), ("防水", "防泼水", "防汗", "进水")),
    Aspect(
        ("适用机型", "兼容机型", "兼容", "兼容性", "适配机型", "支持机型", "适用手机", "适用型号", "适用设备"),
        ("兼容", "适配", "机型", "什么手机", "哪些手机", "哪款手机", "哪个手机", "什么型号", "哪些型号"),
        claims=DEVICES,
    ),
    # Home goods and food.
    Aspect(
        ("承重", "最大承重", "承重量", "载重", "承重能力"),
        ("承重", "载重", "能放多重", "放多重", "能承受", "能放多少斤", "能放多少公斤", "能扛", "能坐"),
    ),
    Aspect(
        ("安装方式", "安装", "安装说明", "安装方法", "是否需要安装", "是否安装"),
        ("安装", "组装", "拼装", "装起来"),
    ),
    Aspect(
        ("份量", "分量", "适用人数", "食用人数", "几人份"),
        ("几人份", "几个人吃", "几人吃", "多少人吃", "几个人用", "人份", "够几个人", "够吃"),
    ),
    Aspect(("适用人群", "适合人群"), ("适合什么人", "适用人群", "适合人群", "什么人用", "什么人穿"), claims=PEOPLE),
)


HELD_CACHE = 4096  # items of a catalog share a few layouts of columns (one per file they came from)


@lru_cache(maxsize=HELD_CACHE)
def held(keys: tuple[str, ...]) -> tuple[tuple[Aspect, tuple[tuple[int, str], ...]], ...]:
    """The aspects that columns with these folded headers hold, in the table's order, each with the (index, part)
    of its columns (`Aspect.part`): its own headers', else its fallback's; an aspect none of them holds is left out.

    Every message about an item asks this of the same columns: it is worked out once per set of headers.
    """
    found = []
    for aspect in ASPECTS:
        own = tuple((i, part) for i, key in enumerate(keys) if (part := aspect.part(key)) is not None)
        if not own and aspect.fallback:
            own = tuple(
                (i, part) for i, key in enumerate(keys) if (part := aspect.part(key, fallback=True)) is not None
            )
        if own:
            found.append((aspect, own))
    return tuple(found)
