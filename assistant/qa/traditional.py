"""Traditional characters folded to the simplified ones the rules are written in.

Buyers from Hong Kong, Taiwan and abroad, and agents whose input method is set to 繁體, write 投訴 for 投诉
and 全網最低價 for 全网最低价. `FORMS` holds, for each character the shipped rules (phrases/qa.toml) use, its
traditional forms: every character of OpenCC's `TSCharacters.txt` (Apache-2.0,
https://github.com/BYVoid/OpenCC, data/dictionary) whose first simplified reading is a rule character. A
character that is itself a rule character is never folded, nor one whose first reading is another character
(畫 reads 画 before 划). When the rules gain characters, print the table again and paste it below:

    python -m assistant.qa.traditional path/to/TSCharacters.txt [phrases/qa.toml …]

(tests/test_qa_rules.py fails while a rule character written only in simplified script has no entry).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from assistant.qa.rules import load_rules

# Each group: a rule character, then its traditional forms.
FORMS = """
万萬 与與 专專 业業 两兩 个個箇 为為爲 举舉 么麼麽 书書 买買 争爭 亏虧 产產産 亲親 仅僅 仓倉 们們
价價 优優 会會 传傳 伤傷 体體 修脩 偿償 儿兒 关關 内內 军軍 决決 准準 几幾 划劃 别別彆 制製 劝勸
办辦 务務 动動 劲勁 千韆 协協 单單 卖賣 占佔 卫衛 历厤曆歷 压壓 参參蔘 发發髮 变變 台檯臺颱 号號
同衕 后後 向嚮曏 吗嗎 听聽 员員 周週 咨諮 回迴 围圍 国國 图圖 圆圓 场場 坏壞 处處 头頭 妆妝 宝寶
实實 宠寵 家傢 对對 导導 尽儘盡 师師 帮幫 广廣 库庫 开開 弹彈 强強 归歸 当噹當 径徑 恶噁惡 愈癒 懒懶
扣釦 扫掃 抠摳 报報 担擔 挤擠 损損 换換 据據 搜蒐 敌敵 数數 断斷 无無 时時 显顯 晒曬 晕暈 术朮術
机機 杀殺 权權 条條 来來 极極 构構 查査 标標 检檢 欢歡 气氣 没沒 泛氾汎 注註 测測 温溫 滚滾 满滿
灵靈 点點 烂爛 烦煩 烫燙 热熱 爱愛 犹猶 独獨 猫貓 环環 现現 电電 畅暢 痴癡 皱皺 监監 真眞 矫矯
码碼 确確 礼禮 私俬 称稱 稳穩 穷窮 笔筆 签簽籤 类類 系係繫 紧緊 红紅 级級 纯純 纸紙 线綫線 组組
终終 经經 绒絨 绕繞 给給 绝絕絶 维維 绿綠緑 缩縮 网網 群羣 联聯 肤膚 胜勝 胶膠 脑腦 脚腳 脱脫 脸臉
荐薦 虑慮 虚虛 补補 表錶 见見 视視 认認 讨討 让讓 记記 许許 证証證 评評 识識 诈詐 诉訴 话話 询詢
详詳 语語 说說説 请請 诺諾 调調 谈談 谢謝 谨謹 负負 财財 责責 账賬 货貨 质質 贵貴 费費 赏賞 赔賠
车車 转轉 轮輪 轻輕 辈輩 辞辭 边邊 达達 过過 还還 这這 进進 远遠 连連 迹跡蹟 适適 选選 递遞 遗遺 遥遙
释釋 里裏裡 针針鍼 钉釘 钱錢 钻鉆鑽 银銀 销銷 锁鎖 锈銹鏽 长長 闭閉 问問 间間 闷悶 闺閨 际際 随隨
难難 霉黴 面麪麫麵 页頁 顶頂 须須鬚 顾顧 顿頓 预預 领領 频頻 题題 额額 饮飲 驰馳 验驗 骗騙 鳌鰲
鸭鴨 鹅鵝 黄黃 龙龍
"""

TRADITIONAL: Mapping[str, str] = {form: group[0] for group in FORMS.split() for form in group[1:]}


def rule_characters(paths: Iterable[Path]) -> set[str]:
    """The CJK characters of every word, exception, pattern and variant of the rule files."""
    data = load_rules(paths)
    texts = [*data.exceptions, *data.variants, *data.variants.values()]
    for spec in data.rules:
        texts += [*spec.words, *spec.patterns, *spec.exceptions, *spec.negations, *spec.unless, *spec.needs]
    return {ch for text in texts for ch in text if is_cjk(ch)}


def is_cjk(ch: str) -> bool:
    """Whether `ch` is a CJK ideograph of the basic plane (the rules' words are written with no other)."""
    return "\u3400" <= ch <= "\u9fff"


def forms(ts_lines: Iterable[str], characters: set[str]) -> dict[str, list[str]]:
    """Each rule character's traditional forms, read from OpenCC's TSCharacters lines (traditional TAB
    simplified readings, the usual one first)."""
    table: dict[str, list[str]] = {}
    for line in ts_lines:
        if not line.strip() or line.startswith("#"):
            continue
        traditional, readings = line.rstrip("\n").split("\t", 1)
        first = readings.split()[0]
        if first != traditional and first in characters and traditional not in characters:
            table.setdefault(first, []).append(traditional)
    return {ch: sorted(table[ch]) for ch in sorted(table)}


def render(table: Mapping[str, list[str]], width: int = 58) -> str:
    """The table as `FORMS` is written: groups separated by spaces, lines at most `width` characters long
    (a CJK character takes two columns)."""
    lines: list[str] = []
    line = ""
    for ch, traditional in table.items():
        group = ch + "".join(traditional)
        if line and len(line) + 1 + len(group) > width:
            lines.append(line)
            line = group
        else:
            line = f"{line} {group}" if line else group
    return "\n".join([*lines, line] if line else lines)


def main(argv: list[str]) -> int:
    """Print the table for a TSCharacters.txt and rule files (the shipped ones when none are named)."""
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    rules = [Path(p) for p in argv[1:]] or [Path(__file__).parents[2] / "phrases" / "qa.toml"]
    with open(argv[0], encoding="utf-8") as f:
        print(render(forms(f, rule_characters(rules))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
