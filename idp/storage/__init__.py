"""Storage implementations (no Flask): SQL repositories, the short-lived store, the throttle counters."""
