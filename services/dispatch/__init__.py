"""Dispatch: tasks from ingested items, routed to vendors, leased to annotators, submitted."""
