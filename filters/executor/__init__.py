"""Running the passes: a job per input or shard (jobs.py), the whole run with its resume protocol
(run.py), re-routing a finished run (rethreshold.py), the settings that make a run what it is
(settings.py), and the engines that run jobs here (local_engine.py) or on Ray (ray_engine.py). An
engine knows nothing of the steps inside a job."""
