"""The service norms' default words of the day's inspection (`[qa]`, docs/quality.md)."""

# A buyer's message that asks something (besides a ?): a burst of them left without a reply is a finding (not 呢,
# which ends 好的呢 as often as a question).
QUESTION_WORDS = (
    "吗", "多少", "多久", "多大", "多长", "怎么", "什么", "为什么", "哪", "几", "能不能", "可不可以", "有没有", "是不是", "行不行",
    "啥", "如何", "咋",
)  # fmt: skip
# Words of a greeting (欢迎语): the first reply of a conversation no auto-reply greeted holds one.
GREETING_WORDS = ("您好", "你好", "亲", "在的", "在呢", "欢迎", "hello", "hi", "哈喽", "嗨", "为您服务", "很高兴")
# Words of a closing (结束语): thanks, wishes, come back or ask again, 不客气, 还有其他问题吗 (each shipped 结束语 has one).
CLOSING_WORDS = (
    "谢谢", "感谢", "再见", "拜拜", "祝您", "祝你", "欢迎再来", "欢迎下次", "欢迎光临", "欢迎再次", "期待您", "期待再次",
    "随时联系", "随时找我", "随时咨询", "随时来", "随时问", "随时call", "有问题随时", "有需要随时", "好评", "慢走", "生活愉快",
    "购物愉快", "再会", "随时叫我", "随时留言", "等您回来", "有任何问题", "有任何需要", "有任何疑问", "有问题请", "请直接告诉我",
    "需要的话告诉我", "记得联系", "请随时", "不客气", "不用谢", "客气了", "客气啦", "还有问题", "还有其他问题", "还有别的问题", "还有什么",
)  # fmt: skip
# What a buyer says to an agent's closing (结束语) that asks for no other: thanks, yes, a sticker (nothing once emoji and
# punctuation are dropped). A message made of these words alone leaves the conversation closed.
COURTESY_WORDS = (
    "好的", "好滴", "好哒", "好嘞", "好", "嗯", "恩", "哦", "噢", "喔", "ok", "okay", "谢谢", "谢了", "谢啦", "多谢", "感谢",
    "thanks", "thx", "辛苦了", "辛苦", "麻烦了", "收到", "知道了", "明白了", "明白", "了解", "懂了", "行", "可以", "没问题", "没有了",
    "没了", "不用了", "拜拜", "再见", "亲", "你", "您", "啦", "呀", "哈", "呢", "的", "了", "啊", "哟", "哒", "嘿",
)  # fmt: skip
