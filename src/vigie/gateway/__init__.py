"""The device gateway: real tracker protocols in, observations stored durably, then acknowledged."""
