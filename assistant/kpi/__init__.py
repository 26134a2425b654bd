"""KPIs and the supervisors' daily report: metric definitions, the SQL behind them, rendering, a synthetic day."""
