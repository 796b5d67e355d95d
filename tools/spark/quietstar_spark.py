#!/usr/bin/env python3
"""Runs `quietstar-run` over a JSONL (or text) input as a Spark job, and writes the merged output
in input order: the same bytes as one `quietstar-run` process over the whole input.

    PY=$(bash tools/spark/setup)
    $PY tools/spark/quietstar_spark.py --master 'local[3]' --bin /tmp/spark-bin/quietstar-run \\
        --model fixtures/default/quietstar-arithmetic.qstar --input prompts.jsonl --output out.jsonl \\
        -- generate --input-format jsonl --format jsonl --thoughts --max-tokens 5

How: the input is read with sc.textFile and numbered (zipWithIndex); line i goes to partition
i mod N, sorted by i during the shuffle. Each partition is piped (rdd.pipe) through
tools/spark/pipe-shard into `quietstar-run ARGS --shard K/N`, fed the whole input's line
positions with the other partitions' lines left empty (quietstar-run never reads another shard's
lines), so every line keeps its place in the input: its JSONL "line", and the seeds of its
sampled tokens and thoughts, which come from the line's index. quietstar-run writes one record
per line of its shard in order, so partition K's j-th output is line K + jN's; a second shuffle
puts the records back in input order, and the driver streams them to --output partition by
partition. Exit status: 0, or 1 as quietstar-run's when some lines failed (their error records
are in the output); 2 when the job failed (a quietstar-run exited with another status). The model is shipped to the workers with sc.addFile and opened where SparkFiles puts
it.
"""
import argparse
import shlex
import sys
import time
from pathlib import Path

from pyspark import SparkConf, SparkContext, SparkFiles

HERE = Path(__file__).resolve().parent
# How pipe-shard reports quietstar-run's exit status, on the partition's last output line.
STATUS_MARK = "\x1eexit "


def shard_stream(k, n, model_name, numbered):
    """Partition k's stdin for pipe-shard: the "K/N<TAB>MODEL" line, then one line per input
    position up to this shard's last line, its own lines in place and the others empty."""
    yield f"{k}/{n}\t{SparkFiles.get(model_name)}"
    position = 0
    for i, line in numbered:
        while position < i:
            yield ""
            position += 1
        yield line
        position += 1


def numbered_outputs(k, n, lines, failed):
    """Partition k's output lines as (input index, line): its j-th line answers input line
    k + j*n. The last line is pipe-shard's exit report: status 1 (some lines failed, their error
    records in place) is counted in `failed`; any other failure fails the task, and so the job."""
    status = None
    j = 0
    for line in lines:
        if STATUS_MARK in line:
            before, _, report = line.partition(STATUS_MARK)
            if before:
                raise RuntimeError(f"partition {k}: quietstar-run's output ends in a torn line")
            status = int(report.split()[-1])
            continue
        yield k + j * n, line
        j += 1
    if status is None:
        raise RuntimeError(f"partition {k}: no exit status from pipe-shard")
    if status == 1:
        failed.add(1)
    elif status != 0:
        raise RuntimeError(f"partition {k}: quietstar-run exited with status {status} (its stderr is in the worker's log)")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--master", default="local[3]", help="Spark master (local[N]: N worker threads)")
    p.add_argument("--partitions", type=int, help="quietstar-run processes (default: the master's parallelism)")
    p.add_argument("--bin", default="/tmp/spark-bin/quietstar-run", help="quietstar-run, at this path on every worker")
    p.add_argument("--model", required=True, help="the .qstar model, shipped to the workers with addFile")
    p.add_argument("--input", required=True, help="input lines (a path or a URI Spark reads)")
    p.add_argument("--output", required=True, help="the merged output, one record per input line, in input order")
    p.add_argument("args", nargs=argparse.REMAINDER, help="-- then quietstar-run's subcommand and flags")
    a = p.parse_args()
    args = a.args[1:] if a.args[:1] == ["--"] else a.args
    if not args:
        p.error("give quietstar-run's subcommand and flags after --")

    started = time.monotonic()
    # Local mode on loopback only, no web UI, and no progress bar in the log.
    conf = (SparkConf().setMaster(a.master).setAppName("quietstar-run").set("spark.ui.enabled", "false")
            .set("spark.ui.showConsoleProgress", "false").set("spark.driver.host", "127.0.0.1")
            .set("spark.driver.bindAddress", "127.0.0.1"))
    sc = SparkContext(conf=conf)
    sc.setLogLevel("WARN")
    n = a.partitions or sc.defaultParallelism
    model = Path(a.model).resolve()
    sc.addFile(str(model))
    uri = a.input if "://" in a.input else Path(a.input).resolve().as_uri()

    lines = sc.textFile(uri, minPartitions=n)
    total = lines.count()
    by_shard = (lines.zipWithIndex().map(lambda pair: (pair[1], pair[0]))
                .repartitionAndSortWithinPartitions(n, partitionFunc=lambda i: i % n))
    streams = by_shard.mapPartitionsWithIndex(lambda k, it: shard_stream(k, n, model.name, it))
    command = shlex.join([str(HERE / "pipe-shard"), a.bin, *args])
    outputs = streams.pipe(command, checkCode=True)
    failed = sc.accumulator(0)
    numbered = outputs.mapPartitionsWithIndex(lambda k, it: numbered_outputs(k, n, it, failed))
    # Contiguous ranges of input positions, so partition order is input order.
    ordered = numbered.repartitionAndSortWithinPartitions(n, partitionFunc=lambda i: i * n // max(total, 1))
    written = 0
    try:
        with open(a.output, "w", encoding="utf-8", newline="\n") as f:
            for i, record in ordered.toLocalIterator():
                if i != written:
                    sys.exit(f"quietstar_spark: no output for input line {written + 1}")
                f.write(record + "\n")
                written += 1
    except Exception as error:  # a failed task: Spark's Java trace says which, the cause is one line
        cause = next((l for l in str(error).splitlines() if l.strip().startswith("RuntimeError:")), str(error).splitlines()[0])
        print(f"quietstar_spark: the job failed: {cause.strip()}", file=sys.stderr)
        sys.exit(2)
    shards_with_failures = failed.value
    sc.stop()
    if written != total:
        sys.exit(f"quietstar_spark: {written} output lines for {total} input lines")
    print(f"quietstar_spark: {total} lines through {n} quietstar-run processes on {a.master} "
          f"in {time.monotonic() - started:.1f} s (Spark start included) -> {a.output}", file=sys.stderr)
    if shards_with_failures:
        # As quietstar-run itself: the output is complete, the failed lines hold error records.
        print(f"quietstar_spark: some lines failed in {shards_with_failures} of {n} shards "
              "(error records written in their place)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
