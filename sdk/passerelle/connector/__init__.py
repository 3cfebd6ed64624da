"""The connector: receives platform deliveries, stores them durably and dispatches them."""
