"""``make bench``'s async section (bench/bench.py ``--sections async``, the
measurements of bench/aio_bench.py): a short end-to-end run."""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import unittest

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench")


class AsyncSectionTest(unittest.TestCase):
    def test_async_section_measures_every_system_or_says_why_not(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "bench.json")
            cmd = [sys.executable, os.path.join(BENCH, "bench.py"), "--quick", "--sections", "async",
                   "--reps", "1", "--json", out]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            with open(out) as f:
                report = json.load(f)
            charts = report.get("charts", [])
            self.assertEqual(report["errors"], [])
        a = report["async"]
        if sys.version_info < (3, 13):
            self.assertIn("3.13", a["skipped"])
            return
        chunked = "interp.aio chunksize=256"
        gather = "asyncio.gather (one loop)"
        self.assertEqual(set(a["tiny"]), {gather, "interp.aio chunksize=1", chunked, "aiomultiprocess"}, a["tiny"])
        self.assertEqual(set(a["sleep"]), set(a["tiny"]))
        have_peer = importlib.util.find_spec("aiomultiprocess") is not None
        for name, e in a["tiny"].items():
            if name == "aiomultiprocess" and not have_peer:
                self.assertIn("not installed", e["skipped"])
                self.assertIn("not installed", a["sleep"][name]["skipped"])
                continue
            self.assertGreater(e["per_item_us"]["median"], 0, (name, e))
            self.assertAlmostEqual(e["items_per_s"]["median"] * e["per_item_us"]["median"], 1e6, delta=1e6 * 0.01)
            # Every coroutine sleeps 0.05 s: no map can end sooner.
            wall = a["sleep"][name]["wall_s"]["min"]
            self.assertGreaterEqual(wall, a["meta"]["sleep_s"], (name, a["sleep"][name]))
        self.assertEqual(a["tiny"][gather]["vs_gather"], 1.0)
        # The sleeping map's pools let every coroutine sleep at once.
        self.assertGreaterEqual(a["meta"]["sleep_childconcurrency"] * a["meta"]["workers"], a["meta"]["sleep_n"], a["meta"])
        self.assertIn("## Async: 5,000 tiny coroutines", proc.stdout)
        self.assertIn(f"| {chunked} |", proc.stdout)
        if have_peer:  # without the peer there is no ratio, hence no target row
            self.assertIn("throughput >= 20x aiomultiprocess': interp.aio chunksize=1", proc.stdout)
        if importlib.util.find_spec("matplotlib") is not None:
            self.assertEqual([os.path.basename(p) for p in charts], ["async.png"])


if __name__ == "__main__":
    unittest.main()
