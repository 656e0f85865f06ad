"""Long-running processes: projection runners, analytics loader, Kafka relay."""
