"""Helpers shared by the stages: dvx finds this file through the imports."""

import csv


def read_rows(path):
    with open(path, newline="") as f:
        return [[float(v) for v in row] for row in list(csv.reader(f))[1:]]


def write_rows(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
