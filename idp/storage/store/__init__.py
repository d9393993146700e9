"""Short-lived, high-churn state: in-process, Redis, the database fallback."""
