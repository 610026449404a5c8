#!/usr/bin/env python3
"""Tests of benches/report.py (run by CI: `python3 benches/test_report.py`).

1. The page in the repository is exactly what its regenerate line makes from the data file
   and the notes, so nobody's hand edit can hide in it.
2. From criterion directories (fake ones, written here) report.py computes the ratios of
   medians per run, marks losses, splices the notes in their places, and writes a data file
   from which `--from-data` renders the same page again.
"""

import importlib.util
import json
import os
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("report", ROOT / "benches" / "report.py")
report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(report)


def write_estimate(run_dir, group, runtime, median_ns):
    """One criterion result, as criterion lays it out: <group>/<runtime>/new/*.json."""
    new = Path(run_dir, *group.split("/"), runtime, "new")
    new.mkdir(parents=True)
    (new / "benchmark.json").write_text(json.dumps({"group_id": group, "function_id": runtime}))
    (new / "estimates.json").write_text(json.dumps({"median": {
        "point_estimate": median_ns,
        "confidence_interval": {"lower_bound": median_ns * 0.9, "upper_bound": median_ns * 1.1},
    }}))


class CommittedPage(unittest.TestCase):
    def test_the_page_is_what_its_regenerate_line_makes(self):
        data = json.loads((ROOT / report.DATA).read_text())
        rendered = report.render(data, ROOT / report.NOTES)
        self.assertEqual(rendered, (ROOT / report.OUT).read_text(),
                         "docs/benchmarks.md differs from `python3 benches/report.py "
                         "--from-data benches/report-data.json`: edit the notes or the data, "
                         "not the page")


class FromCriterion(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self.tmp.name)
        # Two runs: ciranda wins yield_many in both, loses accept in both.
        for run, scale in (("r1", 1.0), ("r2", 3.0)):
            d = self.dir / run
            write_estimate(d, "scheduler/yield_many", "ciranda", 1e6 * scale)
            write_estimate(d, "scheduler/yield_many", "tokio", 2e6 * scale)
            write_estimate(d, "scheduler/yield_many", "smol", 4e6 * scale)
            write_estimate(d, "net/accept", "ciranda", 30e3 * scale)
            write_estimate(d, "net/accept", "tokio", 20e3 * scale)
            write_estimate(d, "unknown/thing", "ciranda", 5.0)
            (d / "memory.json").write_text(json.dumps({
                "workers": 2, "tasks": 1000, "runs": 3,
                "results": {"ciranda": {"bytes_per_task": 100.0},
                            "tokio": {"bytes_per_task": 400.0},
                            "smol": {"bytes_per_task": 80.0}},
            }))
        self.notes = self.dir / "notes"
        self.notes.mkdir()
        (self.notes / "run.md").write_text("**Run note.** Spliced after the run facts.\n")
        (self.notes / "http.md").write_text("## HTTP\n\nSpliced at the end.\n")
        self.out = self.dir / "page.md"
        self.data = self.dir / "data.json"
        report.main(["--criterion", str(self.dir / "r1"), "--criterion", str(self.dir / "r2"),
                     "--notes", str(self.notes), "--out", str(self.out), "--data", str(self.data),
                     "--command", "cargo bench", "--machine", "a test machine"])
        self.page = self.out.read_text()

    def tearDown(self):
        self.tmp.cleanup()

    def test_ratios_are_medians_of_per_run_ratios_and_losses_are_bold(self):
        self.assertIn("| `yield_many` | 200 tasks × 1 000 yields | 2 ms | 4 ms | 8 ms | "
                      "0.50 <sub>(runs: 0.50, 0.50)</sub> | 0.25 <sub>(runs: 0.25, 0.25)</sub> |",
                      self.page)
        self.assertIn("**1.50** <sub>(runs: 1.50, 1.50)</sub> | – |", self.page)
        self.assertIn("| net | 1.50 | – | 1 of 1 | 0 of 1 |", self.page)
        self.assertIn("| `unknown/thing` | 5 ns | – | – |", self.page)
        self.assertIn("| bytes per idle task | 100 | 400 | 80 | 0.25 | **1.25** |", self.page)
        self.assertIn("- Machine: a test machine", self.page)

    def test_notes_go_after_the_run_facts_and_at_the_end(self):
        run_facts = self.page.index("- Regenerate this page")
        run_note = self.page.index("**Run note.**")
        first_table = self.page.index("## scheduler")
        self.assertLess(run_facts, run_note)
        self.assertLess(run_note, first_table)
        self.assertTrue(self.page.endswith("## HTTP\n\nSpliced at the end.\n"))

    def test_the_data_file_renders_the_same_page(self):
        again = self.dir / "again.md"
        report.main(["--from-data", str(self.data), "--notes", str(self.notes),
                     "--out", str(again)])
        self.assertEqual(again.read_text(), self.page)

    def test_a_directory_without_results_is_an_error(self):
        empty = self.dir / "empty"
        empty.mkdir()
        with self.assertRaises(SystemExit) as caught:
            report.main(["--criterion", str(empty), "--out", os.devnull,
                         "--data", str(self.dir / "unused.json")])
        self.assertIn("no criterion results", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
