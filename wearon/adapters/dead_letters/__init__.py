"""The two dead-letter stores, one adapter each (the port: wearon.ports.DeadLetters)."""
