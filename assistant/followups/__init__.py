"""Idle follow-ups: persistent timers, the firing policy, the follow-up tables, retrying delivery, the service."""
