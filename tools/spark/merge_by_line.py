#!/usr/bin/env python3
"""Merges quietstar-run JSONL outputs of --shard runs (one file per shard, each already in input
order) into one stream in input order, by each record's 1-based "line": the bytes of a
single-process run. Streams: holds one record per file.

    python3 tools/spark/merge_by_line.py part-* > merged.jsonl
"""
import heapq
import json
import sys


def records(path):
    with open(path, "rb") as f:
        for raw in f:
            yield json.loads(raw)["line"], raw


def main():
    out = sys.stdout.buffer
    expected = 1
    for line, raw in heapq.merge(*(records(p) for p in sys.argv[1:]), key=lambda r: r[0]):
        if line != expected:
            sys.exit(f"merge_by_line: line {expected} is missing (next record is line {line})")
        out.write(raw)
        expected += 1


if __name__ == "__main__":
    main()
