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
    "需要的话告诉我", "记得联系", "不客气", "不用谢", "客气了", "客气啦", "还有问题", "还有其他问题", "还有别的问题", "还有什么",
)  # fmt: skip
