"""Quality inspection (质检): rules, the inspector, alerts to supervisors and their escalation."""
