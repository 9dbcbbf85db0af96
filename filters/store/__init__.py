"""What a run keeps on disk: crash-safe files (atomic.py), the run's durable state (state.py), its
manifest and counts (manifest.py), and the one reader of a finished run's shards (output.py), which
rethreshold and the report both use."""
