"""The words the panel's and the quality page's scripts show, from the catalog, handed to them as JSON."""

from __future__ import annotations

from assistant.i18n import translator


def panel_followup_labels(language: str) -> dict[str, str]:
    """The follow-up line of a panel card, per state (an empty label hides the line)."""
    t = translator(language)
    return {
        "armed": t.gettext("Follow-up in"),
        "deferred": t.gettext("Quiet hours: follow-up deferred"),
        "quiet": t.gettext("Quiet hours: follow-up deferred"),
        "pending": t.gettext("Sending the follow-up…"),
        "suggested": t.gettext("Suggested follow-up:"),
        "sent": t.gettext("Follow-up sent automatically"),
        "failed": t.gettext("Follow-up failed to send"),
        "missed": t.gettext("Follow-up missed"),
        "dropped": t.gettext("Quiet hours: no follow-up this time"),
        "cancelled": "",
    }


def panel_messages(language: str) -> dict[str, str]:
    """Every text panel.js writes; `%(name)s` marks a value it fills in."""
    t = translator(language)
    return {
        "customer": t.gettext("Customer"),
        "agent": t.gettext("Agent"),
        "auto": t.gettext("Automatic"),
        "hours_minutes": t.gettext("%(h)sh %(m)smin"),
        "days": t.gettext("%(d)s days"),
        "waiting": t.gettext("Waiting %(d)s"),
        "replied": t.gettext("Replied"),
        "no_messages": t.gettext("No messages yet"),
        "sending_now": t.gettext("sending now…"),
        "copy": t.gettext("Copy"),
        "followup_copied": t.gettext("Follow-up for %(name)s copied"),
        "copy_failed": t.gettext("Copy failed"),
        "not_imported": t.gettext("%(id)s (not imported)"),
        "unassigned": t.gettext("Unassigned"),
        "not_sure": t.gettext("Not sure"),
        "few_cues": t.gettext("Few cues: serve as %(label)s"),
        "near_tie": t.gettext("Undecided: %(label)s or %(other)s"),
        "near_tie_title": t.gettext("Near tie: %(label)s leads by a little"),
        "talk_track": t.gettext("Talk track"),
        "past_orders": t.gettext("Returning buyer: %(count)s paid orders here before"),
        "because_of": t.gettext("Because of: %(words)s"),
        "no_suggestion": t.gettext("No suggestion yet"),
        "suggestions_withheld": t.gettext("Matching is busy: no suggestion for this message (search with /)"),
        "guess_needs_click": t.gettext("Suggestion %(n)s is a guess: click it to use it"),
        "unpaid_orders": t.gettext("Unpaid orders: "),
        "waiting_context": t.gettext("Waiting for the conversation"),
        "no_agent": t.gettext("No agent in the link"),
        "connecting": t.gettext("Connecting…"),
        "live": t.gettext("Live"),
        "offline": t.gettext("Disconnected, reconnecting…"),
        "missed": t.gettext(
            "Reconnected: the updates made while the panel was away could not be replayed, the list now shows the "
            "current state"
        ),
        "missed_messages": t.gettext(
            "Reconnected: the updates made while the panel was away could not be replayed, the list now shows the "
            "current state. New messages meanwhile: %(names)s"
        ),
        "denied": t.gettext("Token refused"),
        "denied_link": t.gettext("This link's token is wrong or has expired: ask your supervisor for a new panel link"),
        "denied_embedded": t.gettext(
            "The dashboard app's token is wrong or has expired: ask an administrator to update its URL in Chatwoot"
        ),
        "not_recorded": t.gettext("Not recorded (%(status)s)"),
        "not_recorded_network": t.gettext("Not recorded (network)"),
        "copied": t.gettext("Copied %(code)s for %(name)s"),
        "copied_plain": t.gettext("Copied %(code)s"),
        "copy_failed_recorded": t.gettext("Copy failed, recorded %(code)s for %(name)s"),
        "copy_failed_code": t.gettext("Copy failed: %(code)s"),
        "search_failed": t.gettext("Search failed"),
        "no_match": t.gettext("No matching phrase"),
        "send_failed": t.gettext("Sending failed"),
        "check_failed": t.gettext("Check failed"),
        "no_problem": t.gettext("No problem found"),
        "conversation": t.gettext("Conversation #%(id)s"),
        "order_created": t.gettext("Unpaid order created"),
        "handed_over": t.gettext("%(name)s's conversation was handed to %(agent)s"),
        "closed_conversation": t.gettext("%(name)s's conversation was closed"),
        "left_list": t.gettext("%(name)s's conversation left the list"),
        "choose_first": t.gettext("Choose a conversation first (click it, or press ↓)"),
        "announce_message": t.gettext("%(name)s: new message"),
        "announce_message_suggestions": t.gettext("%(name)s: new message, %(n)s suggestions"),
        "show_all": t.gettext("Show all"),
        "show_less": t.gettext("Show less"),
    }


def qa_messages(language: str) -> dict[str, str]:
    """Every text qa.js writes."""
    t = translator(language)
    return {
        "customer": t.gettext("Customer %(name)s"),
        "agent": t.gettext("Agent %(name)s"),
        "served_by": t.gettext("Served by %(name)s"),
        "view": t.gettext("View the conversation"),
        "escalated_alert": t.gettext("Escalated: nobody answered"),
        "alert": t.gettext("Alert"),
        "armed": t.gettext("Waiting for an agent's reply…"),
        "answered": t.gettext("An agent replied"),
        "escalated": t.gettext("Escalated"),
        "connecting": t.gettext("Connecting…"),
        "live": t.gettext("Live"),
        "offline": t.gettext("Disconnected, reconnecting…"),
        # An alert's delivery through each hook: its state, and the hooks a shop knows by name.
        "delivery_pending": t.gettext("sending…"),
        "delivery_sent": t.gettext("sent"),
        "delivery_failed": t.gettext("failed to send"),
        "delivery_skipped": t.gettext("skipped"),
        "hook_dingtalk": t.gettext("DingTalk"),
        "hook_wecom": t.gettext("WeCom"),
        "hook_webhook_out": t.gettext("outgoing webhook"),
    }
