"""Production mode (`VIGIE_MODE=cluster`): ingest through NATS JetStream, detection partitioned by
case. Imported only in that mode: the embedded centre never loads `nats` (README, "Production
(cluster mode)"). `partitions` and `assignment` are pure and importable anywhere."""
