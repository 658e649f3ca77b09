# SPDX-License-Identifier: ISC
"""suite - what bench/run runs, in what order: its options, its parts,
the progress lines ("[3/14] growth: ..."), the other scripts of bench/ run
as subprocesses (each writes its figures with --json), a results.json of
every figure, and the summary of the targets (bench/targets.py).

Each figure is made by one script only: the table of (a) to (e) by
bench/run itself, the rest by bench/growth, gateway, milter,
fcrdns-connections, hooks and profile, called with their own options.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import postern_bench
import targets

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIOS = ("a", "b", "c", "ctls", "itls", "e")

# The parts of the scripts: name -> (what it measures, [(program, Debian
# package)] it cannot run without, its command line for (runs, quick), and
# whether it writes --json), and minutes, quick / full: --quick as measured
# at load 10 on 2 CPUs; full estimated from the parts' counts, not measured.
SCRIPTS = {
    "growth": ("how cost grows: concurrency 1-500, size 1 KiB-10 MiB, 100-2000 idle connections; "
               "PNGs (python3-matplotlib)", [],
               lambda runs, quick: ["growth"] + (["--quick"] if quick else []), True, (1.5, 15)),
    "gateway": ("issue 16: Postern + postern-forward against Postfix relaying, both to one smtp-sink",
                [],
                lambda runs, quick: ["gateway", "--runs", str(runs), "--messages", "500" if quick else "4000"],
                True, (0.5, 3)),
    "milter": ("issue 15: Postern + rspamd against Postfix + the same rspamd", [("rspamd", "rspamd")],
               lambda runs, quick: ["milter", "--runs", str(runs), "--messages", "200" if quick else "2000"],
               True, (0.5, 4)),
    "fcrdns": ("client-name lookups (FCrDNS) per connection, against a private dnsmasq",
               [("/usr/sbin/dnsmasq", "dnsmasq-base")],
               lambda runs, quick: ["fcrdns-connections", "--rounds", str(runs), "--seconds",
                                    "1" if quick else "5"], True, (0.2, 2)),
    "hooks": ("what a hook costs: exec against persistent, per message and per RCPT", [],
              lambda runs, quick: ["hooks", "100" if quick else "300"], False, (0.2, 1)),
    "profile": ("callgrind of a worker on the (b) path, persistent C no-op step", [("valgrind", "valgrind")],
                lambda runs, quick: ["profile", "--messages", "200" if quick else "1000"], True, (0.2, 2)),
    "flame": ("perf (cpu-clock, kernel included) of the (b) path drawn as a flame graph PNG",
              [("perf", "linux-perf")],
              lambda runs, quick: ["profile", "--messages", "5000" if quick else "40000"], False, (0.2, 1)),
}
CORE = {
    "a": "(a) 1 session, 1 KiB messages", "b": "(b) 20 sessions, 1 KiB messages",
    "c": "(c) a new connection per 100 KiB message",
    "ctls": "(c) STARTTLS, a new connection and handshake per 100 KiB message (bench/tls-load)",
    "itls": "(c) implicit TLS, the same", "e": "(e) memory with idle connections held",
    "pipeline": "issue 14's paths: a pipeline of persistent steps, and FCrDNS against a private dnsmasq, "
                "in (a) (b) (c)",
    "d": "(d) TLS handshakes per second, full and resumed (bench/tls-handshakes' client)",
}
PARTS = list(CORE) + list(SCRIPTS)


def options(argv):
    ap = argparse.ArgumentParser(
        prog="bench/run", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Every figure of bench/RESULTS.md in one command, then the targets met or not.",
        epilog="parts, in the order they run:\n" + "\n".join(
            f"  {p:<9} {CORE.get(p) or SCRIPTS[p][0]}" for p in PARTS) +
        "\n\nThe machine should be otherwise idle.  --quick took 3.5-6 min on 2 loaded CPUs; a full run takes\n"
        "about 10 min on an idle machine (measured 2026-12-06).  Figures, the log and the summary go to --out.")
    ap.add_argument("--runs", type=int, default=3, help="runs per figure, median reported (default 3)")
    ap.add_argument("--quick", action="store_true",
                    help="smaller counts everywhere: a smoke test of every part, coarse figures")
    ap.add_argument("--only", default="", help="comma-separated parts to run (default: all)")
    ap.add_argument("--skip", default="", help="comma-separated parts not to run")
    ap.add_argument("--servers", default="", help="comma-separated substrings: only these servers in (a)-(e)")
    ap.add_argument("--out", help="directory for results.json, each part's JSON and the log "
                                  "(default: a new /tmp/postern-bench-DATE)")
    ap.add_argument("--plots", help="where bench/growth and the flame part write their PNGs (default: bench/, beside RESULTS.md; "
                                    "with --quick: the --out directory)")
    ap.add_argument("--dry-run", action="store_true", help="list the steps and commands, run nothing")
    args = ap.parse_args(argv)
    chosen = []
    for opt in ("only", "skip"):
        names = [x for x in getattr(args, opt).split(",") if x]
        bad = [x for x in names if x not in PARTS]
        if bad:
            ap.error(f"--{opt}: no part {', '.join(bad)}; the parts are {','.join(PARTS)}")
        chosen.append(set(names))
    only, skip = chosen
    args.parts = [p for p in PARTS if (not only or p in only) and p not in skip]
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    return args


class Tee:
    """Standard output, and a copy in the log of the run."""

    def __init__(self, stream, path):
        self.stream, self.log = stream, open(path, "a")

    def write(self, s):
        self.stream.write(s)
        self.log.write(s)

    def flush(self):
        self.stream.flush()
        self.log.flush()


class Progress:
    def __init__(self, total):
        self.total, self.k, self.part = total, 0, ""

    def step(self, part):
        self.k += 1
        self.part = part

    def say(self, msg):
        print(f"[{self.k}/{self.total}] {self.part}: {msg}", flush=True)


def missing(needs):
    for prog, pkg in needs:
        if shutil.which(prog) is None and not os.access(prog, os.X_OK):
            return f"{os.path.basename(prog)} missing: apt-get install {pkg}"
    return None


def script_cmd(name, args, out):
    title, needs, argv, has_json, _ = SCRIPTS[name]
    cmd = argv(args.runs, args.quick)
    cmd = [sys.executable, os.path.join(HERE, cmd[0])] + cmd[1:]
    if name == "growth":
        cmd += ["--out", args.plots]
    if name == "profile":
        cmd += ["--keep", os.path.join(out, "callgrind")]
    if name == "flame":
        cmd += ["--flame", os.path.join(args.plots, "profile-b-flame.png")]
    if has_json:
        cmd += ["--json", os.path.join(out, name + ".json")]
    return cmd


def run_script(name, cmd, progress, timeout):
    """CMD with its output prefixed by the progress label; its --json
    figures, or an exception saying why there are none."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)

    fired = []

    def stop():         # its own session: the script and what it started
        fired.append(1)
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    timer = threading.Timer(timeout, stop)
    timer.start()
    try:
        for line in proc.stdout:
            progress.say(line.rstrip("\n"))
        proc.wait()
    except BaseException:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
        raise
    finally:
        timer.cancel()
    if fired:
        raise TimeoutError(f"stopped after {timeout} s")
    if proc.returncode != 0:
        raise RuntimeError(f"{os.path.basename(cmd[1])} exited with status {proc.returncode}")
    path = cmd[cmd.index("--json") + 1] if "--json" in cmd else None
    if path is None:
        return {}
    with open(path) as f:
        return json.load(f)


def plan(args, bench, out):
    """The steps: [(part, label, action)] in order."""
    scen = {p for p in args.parts if p in SCENARIOS}
    steps = []
    n = bench.sizes(args.quick)
    servers = bench.core_servers(scen, "pipeline" in args.parts, args.servers)
    for r in range(args.runs):      # in turn: a burst of load hits several servers, not one
        for name, make, s in servers:
            s = s if r == 0 else s - {"e"}          # memory held idle: once
            if not s:
                continue
            part = "pipeline" if name in bench.PIPELINE or not scen else "core"     # (or its baseline)
            label = f"{name}, run {r + 1}/{args.runs}: " + " ".join(f"({x})" for x in SCENARIOS if x in s)
            steps.append((part, label, ("core", name, make, s)))
    if "d" in args.parts:
        steps.append(("d", f"implicit TLS handshakes, {n['d']} connections per run", ("d",)))
    for name in SCRIPTS:
        if name in args.parts:
            steps.append((name, " ".join(script_cmd(name, args, out)[1:]), ("script", name)))
    return steps


def execute(action, args, bench, out, progress, results):
    n = bench.sizes(args.quick)
    if action[0] == "core":
        _, name, make, s = action
        row = bench.one_server(name, make, s, n, 1, progress.say)
        runs = results.setdefault("single_runs", {}).setdefault(name, {})
        for sc, fig in row.items():
            runs.setdefault(sc, []).append(fig)
        results.setdefault("core", {})[name] = {sc: v[0] if sc == "e" else bench.combine(v)
                                                for sc, v in runs.items()}
    elif action[0] == "d":
        results["d"] = bench.handshakes(args.runs, n["d"])
        progress.say(f"full {results['d']['full'][0]:.0f}/s, resumed {results['d']['resumed'][0]:.0f}/s")
    else:
        name = action[1]
        why = missing(SCRIPTS[name][1])
        if why:
            progress.say(f"SKIPPED: {why}")
            results["parts"][name] = "skipped: " + why
            return
        results[name] = run_script(name, script_cmd(name, args, out), progress,
                                   1200 if args.quick else 7200)
        if name == "growth":
            results["plots"] = sorted(os.path.join(args.plots, f) for f in os.listdir(args.plots)
                                      if f.startswith("growth-") and f.endswith(".png") and
                                      os.path.getmtime(os.path.join(args.plots, f)) >= results["start"])


def dry_run(args, steps):
    print(f"bench/run would run {len(steps)} steps ({args.runs} runs per figure"
          f"{', quick counts' if args.quick else ''}); nothing is started:")
    for k, (part, label, action) in enumerate(steps, 1):
        why = missing(SCRIPTS[part][1]) if part in SCRIPTS else None
        print(f"[{k}/{len(steps)}] {part}: {label}" + (f"   (would be SKIPPED: {why})" if why else ""))
    mins = sum(SCRIPTS[p][4][0 if args.quick else 1] for p in args.parts if p in SCRIPTS)
    servers = sum(1 for step in steps if step[2][0] == "core")
    mins += servers * (0.25 if args.quick else 0.7)     # one run of a server of the table
    print(f"about {mins:.0f} min" + (" (as measured at load 10)" if args.quick else " (estimated)"))
    return 0


def main(bench):
    args = options(sys.argv[1:])
    out = args.out or time.strftime("/tmp/postern-bench-%Y%m%d-%H%M%S")
    args.plots = args.plots or (out if args.quick else HERE)
    steps = plan(args, bench, out)
    if args.dry_run:
        return dry_run(args, steps)
    if not os.access(os.path.join(postern_bench.BUILDDIR, "posternd"), os.X_OK):
        sys.exit(f"no posternd in {postern_bench.BUILDDIR}: build first (./autogen.sh && ./configure && make), "
                 "or set POSTERN_BUILDDIR")
    os.makedirs(out, exist_ok=True)
    os.makedirs(args.plots, exist_ok=True)
    sys.stdout = Tee(sys.stdout, os.path.join(out, "bench-run.log"))
    results = {"start": time.time(), "parts": {p: "ok" for p in args.parts}, "argv": sys.argv[1:], "quick": args.quick,
               "runs": args.runs, "host": os.uname().nodename, "cpus": os.cpu_count()}
    with open("/proc/loadavg") as f:
        load0 = " ".join(f.read().split()[:3])
    print(f"bench/run on {results['host']}: {results['cpus']} CPUs; {args.runs} runs per figure"
          f"{'; --quick counts' if args.quick else ''}; load average {load0}; {len(steps)} steps; "
          f"figures in {out}", flush=True)
    progress = Progress(len(steps))
    durations = {}
    for part, label, action in steps:
        progress.step(part)
        progress.say(label)
        t0 = time.time()
        try:
            execute(action, args, bench, out, progress, results)
        except Exception as e:          # one part failing leaves the others their figures
            progress.say(f"FAILED: {e}")
            who = f"{action[1]}: " if action[0] == "core" else ""
            for p in (action[3] if part == "core" else [part]):
                results["parts"][p] = f"failed: {who}{e}"
        durations[part] = durations.get(part, 0) + time.time() - t0
    with open("/proc/loadavg") as f:
        load1 = " ".join(f.read().split()[:3])
    results["seconds"] = time.time() - results["start"]
    results["durations"] = durations
    if "core" in results or "d" in results:
        bench.report(results, bench.sizes(args.quick))
    rows = targets.summary(results)
    print("")
    print(targets.table(rows))
    print("")
    print("durations: " + ", ".join(f"{p} {s / 60:.1f} min" for p, s in durations.items()) +
          f"; in all {results['seconds'] / 60:.1f} min; load average {load0} at the start, {load1} at the end")
    results["targets"] = rows
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(targets.table(rows) + "\n")
    print(f"every figure: {out}/results.json; the summary: {out}/summary.md; the log: {out}/bench-run.log",
          flush=True)
    failed = [p for p, st in results["parts"].items() if st.startswith("failed")]
    return 1 if failed else 0
