"""The Python benchmark's own pieces (``bench/day6.py``, ``make
bench-python``): the grid generator, the solvers, the initializer that must
really set its module's state, short end-to-end runs whose day-6 variants
must agree, and its tiny-task section."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench")
sys.path.insert(0, BENCH)

import day6  # noqa: E402
import day6_work  # noqa: E402


class GeneratorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.start, cls.grid, cls.path = day6.generate(2024)

    def test_shape(self):
        size = len(self.grid)
        self.assertEqual((size, {len(row) for row in self.grid}), (130, {130}))
        obstacles = sum(map(sum, self.grid))
        self.assertTrue(0.035 <= obstacles / size**2 <= 0.045, f"{obstacles} obstacles")
        self.assertTrue(4900 <= len(self.path) <= 5400, f"path of {len(self.path)} cells")
        self.assertEqual(len(set(self.path)), len(self.path), "path cells repeat")
        self.assertEqual(self.path[0], self.start)
        self.assertFalse(self.grid[self.start[0]][self.start[1]], "the guard starts on an obstacle")

    def test_deterministic_per_seed(self):
        self.assertEqual(day6.generate(2024), (self.start, self.grid, self.path))
        self.assertNotEqual(day6.generate(7)[1], self.grid)

    def test_buffer_solver_agrees(self):
        size = len(self.grid)
        view = memoryview(bytearray(cell for row in self.grid for cell in row))
        nodes = self.path[1::50]
        plain = [day6_work.solve(self.start, n, self.grid) for n in nodes]
        flat = [day6_work.solve_buffer(self.start, n, view, size) for n in nodes]
        self.assertEqual(plain, flat)
        self.assertTrue(any(plain) and not all(plain), f"loops at {sum(plain)} of {len(plain)}")


class SolverTest(unittest.TestCase):
    # A hand-made 5x5 grid (#: obstacle). The guard starts at (4, 1) facing up,
    # turns at (1, 1), (1, 3) and (3, 3), and leaves the grid left of (3, 0).
    ROWS = (
        ".#...",
        "....#",
        ".....",
        ".....",
        "...#.",
    )
    GRID = tuple(tuple(ch == "#" for ch in row) for row in ROWS)
    START = (4, 1)

    def check(self, node, expected):
        view = memoryview(bytearray(cell for row in self.GRID for cell in row))
        got = (
            day6_work.solve(self.START, node, self.GRID),
            day6_work.solve_buffer(self.START, node, view, 5),
        )
        self.assertEqual(got, (expected, expected), f"obstacle at {node}")

    def test_obstacle_that_closes_a_loop(self):
        # Blocked at (3, 1) facing left, she turns up and goes round for ever.
        self.check((3, 0), True)

    def test_obstacle_off_the_path_changes_nothing(self):
        self.check((2, 2), False)

    def test_obstacle_that_sends_her_out_early(self):
        # Blocked at (1, 3) facing down, she turns left and leaves along row 1.
        self.check((2, 3), False)

    def test_candidate_and_node_forms_agree(self):
        start, grid, path = day6.generate(11)
        day6_work.init(start, grid)
        try:
            for node in path[1::400]:
                expected = day6_work.solve(start, node, grid)
                self.assertEqual(day6_work.solve_candidate((start, node, grid)), expected)
                self.assertEqual(day6_work.solve_node(node), expected)
        finally:
            day6_work.init(None, None)


def run_day6(test, *args):
    """Runs bench/day6.py with ``args`` and one repetition; returns its JSON
    report and stdout after checking that it succeeded."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "bench.json")
        cmd = [sys.executable, os.path.join(BENCH, "day6.py"), "--reps", "1", "--json", out, *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        test.assertEqual(proc.returncode, 0, proc.stderr)
        with open(out) as f:
            return json.load(f), proc.stdout


def run_bench(test, variants):
    """Runs bench/day6.py on 40 candidates with ``variants`` (plus serial);
    returns its JSON report and stdout after checking it succeeded."""
    args = ["--candidates", "40", "--no-tiny"]
    for v in variants:
        args += ["--only", v]
    report, stdout = run_day6(test, *args)
    results = report["day6"]
    test.assertEqual(set(results), {"serial", *variants})
    loops = {name: entry.get("loops") for name, entry in results.items()}
    test.assertEqual(len(set(loops.values())), 1, loops)
    test.assertEqual(report["errors"], [])
    return report, stdout


class EndToEndTest(unittest.TestCase):
    @unittest.skipIf(day6.IPE is None, "needs concurrent.futures.InterpreterPoolExecutor (3.14+)")
    def test_ipe_variants_agree(self):
        # The IPE initializer variant must count what serial counts: its
        # initializer has to set day6_work's state in the worker (one doing
        # `global GRID; GRID = grid` runs against the worker's __main__ under
        # IPE and leaves day6_work.GRID unset).
        _, stdout = run_bench(self, ["IPE initializer", "IPE memoryview"])
        self.assertIn("| IPE initializer |", stdout)

    @unittest.skipIf(day6.interp is None, day6.INTERP_MISSING)
    def test_interp_variants_agree(self):
        # The grid copied per call, handed over by shared=, as a memoryview
        # and as Frozen: interp must deliver the same grid every way.
        report, _ = run_bench(self, ["interp naive", "interp shared=", "interp memoryview", "interp frozen"])
        skipped = {k: v["skipped"] for k, v in report["day6"].items() if "skipped" in v}
        self.assertEqual(skipped, {})


class TinyTest(unittest.TestCase):
    def test_sizes(self):
        # interp gets more calls than the slower executors; --quick a tenth.
        full, quick = day6.tiny_sizes(False), day6.tiny_sizes(True)
        self.assertEqual(set(full), {"IPE", "ThreadPoolExecutor", "ProcessPoolExecutor", "interp"})
        for key in ("round_trip", "submit", "map"):
            self.assertGreater(full["interp"][key], full["IPE"][key], key)
            self.assertEqual(full["ThreadPoolExecutor"][key], full["IPE"][key], key)
            self.assertEqual(full["ProcessPoolExecutor"][key], full["IPE"][key], key)
            self.assertEqual(quick["interp"][key] * 10, full["interp"][key], key)

    @unittest.skipIf(day6.interp is None, day6.INTERP_MISSING)
    def test_tiny_table_covers_every_executor(self):
        report, stdout = run_day6(self, "--quick", "--no-day6")
        self.assertEqual(report["errors"], [])
        tiny = report["tiny"]
        expected = {"ThreadPoolExecutor", "ProcessPoolExecutor", "interp"} | ({"IPE"} if day6.IPE else set())
        measured = {name for name, e in tiny.items() if "round_trip_us" in e}
        self.assertEqual(measured, expected, tiny)
        for name in measured:
            for key in ("round_trip_us", "submit_per_s", "map_per_s"):
                self.assertGreater(tiny[name][key]["median"], 0, (name, key))
        self.assertEqual(report["meta"]["tiny_sizes"], day6.tiny_sizes(True))
        self.assertIn("## Tiny task", stdout)
        self.assertIn("| interp |", stdout)


if __name__ == "__main__":
    unittest.main()
