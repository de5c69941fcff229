"""Reference for track.bench.ts: MLflow's Python client logging N metric points with log_batch.

Usage: python mlflow_log_batch.py <tracking-uri> <points> <keys>
Prints one JSON line: {"seconds": ..., "points": ...}. Times only the log_batch calls (the run is
created before the clock starts and ended after it stops), in chunks of 1000 metrics, the most
one request may carry; the client splits nothing further.
"""

import json
import sys
import time

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

uri, total, keys = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
client = MlflowClient(tracking_uri=uri)
name = "medfm-track-bench-python"
experiment = client.get_experiment_by_name(name)
experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
run = client.create_run(experiment_id)
now = int(time.time() * 1000)
metrics = [
    Metric(key=f"train/metric{index % keys}", value=1.0 / (index + 1), timestamp=now, step=index // keys)
    for index in range(total)
]
start = time.perf_counter()
for offset in range(0, total, 1000):
    client.log_batch(run.info.run_id, metrics=metrics[offset : offset + 1000], synchronous=True)
seconds = time.perf_counter() - start
client.set_terminated(run.info.run_id)
print(json.dumps({"seconds": seconds, "points": total}))
