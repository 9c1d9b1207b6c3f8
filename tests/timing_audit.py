#!/usr/bin/env python3
"""Count the test suite's timing risks and either-outcome checks (issue 18), re-runnably.

    python3 tests/timing_audit.py                 # the working tree
    python3 tests/timing_audit.py --rev HEAD~3    # a commit (files read with `git show`)
    python3 tests/timing_audit.py -v              # also every site found, file:line

Scanned: tests/blackbox/*.py and the helpers tests/*.py (this script excepted). A heuristic over
the Python AST, the same every run, so counts before and after a change compare honestly:

time asserts
    `assert` statements with an ordering comparison (<, <=, >, >=) where one side is a time
    value: a call of time.monotonic()/time.time()/time.perf_counter(), or a name assigned from
    such a value in the same function (t0, took, elapsed, ...), or a name called elapsed, took,
    dt, duration(s) or wall. Each is classified:
      relative  the other side is a time value too (a baseline measured in the same test);
      lower     a duration bounded from below (took >= 0.35): load only makes it longer;
      clock     a timestamp of droplin's checked against the test's own clock readings
                (t0 - 5 <= iat <= time.time() + 5);
      an upper bound on a duration (a difference of clock readings, or took, elapsed, ...):
      scaled    the bound goes through harness.scaled() / TIMEOUT_SCALE (directly or through a
                name assigned from it, such as FAST = harness.scaled(3.0));
      generous  a plain number (or module constant) of GENEROUS (30) seconds or more;
      fixed     a shorter plain number (or constant) that no scale factor stretches: the risk.
    An assert with several comparisons counts once, as its riskiest kind.
sleep-then-absence
    a time.sleep(...) (or a call of a helper such as settle() whose body is a sleep) followed
    within WINDOW source lines of the same function by an assert of absence: `not in`, `not x`,
    `is None`, `== 0`, `== []`/`{}`/`""`/`b""`/`set()`, `not any(...)`. A sleep directly in a
    `while` body is a bounded poll's pause and is not counted. Each absence assert counts once.
either-outcome
    an assert that accepts several HTTP statuses: `x in (200, 422)` (a tuple/list/set of two or
    more 100..599 integers), `x <= {200, 503}`, or `x == 200 or x == 503`. "mixed" are those
    whose statuses span more than one class (say a 2xx and a 4xx).
status ranges
    an assert that bounds a status by order instead of naming it: `r.status < 500`,
    `400 <= r.status < 500` (a name or attribute called status or status_code against a
    100..599 integer); a call of a helper that accepts two statuses (assert_400_or_422).
repeats
    an assert identical (same source) to one a few lines before it in the same function, that
    calls nothing and follows no assignment to any name it reads: it checks nothing the first
    did not.
"""

import argparse
import ast
import os
import subprocess
import sys

WINDOW = 8
GENEROUS = 30  # seconds: a fixed bound this long is not what a loaded machine breaks
TIME_CALLS = {"monotonic", "time", "perf_counter", "monotonic_ns", "time_ns"}
TIME_NAMES = {"elapsed", "took", "dt", "duration", "durations", "wall"}
SCALE_MARKERS = {"scaled", "TIMEOUT_SCALE", "SCALE"}

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


# ------------------------------------------------------------------------------------------
# sources


def sources_worktree(root):
    out = {}
    for rel_dir in ("tests/blackbox", "tests"):
        d = os.path.join(root, rel_dir)
        for name in sorted(os.listdir(d)):
            if name.endswith(".py") and name != "timing_audit.py":
                with open(os.path.join(d, name), encoding="utf-8") as f:
                    out[f"{rel_dir}/{name}"] = f.read()
    return out


def sources_rev(root, rev):
    names = subprocess.run(["git", "-C", root, "ls-tree", "--name-only", rev,
                            "tests/", "tests/blackbox/"],
                           capture_output=True, text=True, check=True).stdout.split()
    out = {}
    for path in sorted(set(names)):
        parts = path.split("/")
        if not path.endswith(".py") or path.endswith("timing_audit.py"):
            continue
        if len(parts) == 2 or (len(parts) == 3 and parts[1] == "blackbox"):
            out[path] = subprocess.run(["git", "-C", root, "show", f"{rev}:{path}"],
                                       capture_output=True, text=True, check=True).stdout
    return out


# ------------------------------------------------------------------------------------------
# helpers over the AST


def call_name(node):
    if isinstance(node, ast.Call):
        f = node.func
        if isinstance(f, ast.Attribute):
            return f.attr
        if isinstance(f, ast.Name):
            return f.id
    return None


def is_time_call(node):
    if not isinstance(node, ast.Call):
        return False
    f = node.func
    if isinstance(f, ast.Attribute) and f.attr in TIME_CALLS:
        return isinstance(f.value, ast.Name) and f.value.id == "time"
    return isinstance(f, ast.Name) and f.id in ("monotonic", "perf_counter")


def names_in(node):
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def involves_time(node, tainted):
    for n in ast.walk(node):
        if is_time_call(n):
            return True
        if isinstance(n, ast.Name) and (n.id in tainted or n.id in TIME_NAMES):
            return True
    return False


def uses_scale(node, scaled_names=frozenset()):
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and (n.id in SCALE_MARKERS or n.id in scaled_names):
            return True
        if isinstance(n, ast.Attribute) and n.attr in SCALE_MARKERS:
            return True
    return False


def target_names(target):
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}


def functions(tree):
    """Every function (and the module itself) as a scope: (scope node, own statements)."""
    scopes = [tree] + [n for n in ast.walk(tree)
                       if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))]
    return [s for s in scopes if not isinstance(s, ast.Lambda)]


def own_nodes(scope):
    """Nodes of scope, not descending into nested functions (they are scopes of their own)."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        n = stack.pop()
        yield n
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        stack.extend(ast.iter_child_nodes(n))


def names_flowing_from(scope, holds, inherited=frozenset(), annotated=True):
    """The names that come to hold what holds(expr, names) says an expression holds: assigned
    from such an expression, or a list it is appended to, followed through other names until
    nothing changes."""
    names = set(inherited)
    kinds = (ast.Assign, ast.AugAssign, ast.AnnAssign) if annotated else (ast.Assign, ast.AugAssign)
    assigns = [n for n in own_nodes(scope) if isinstance(n, kinds)]
    appends = [n for n in own_nodes(scope) if isinstance(n, ast.Call)
               and isinstance(n.func, ast.Attribute) and n.func.attr == "append"
               and isinstance(n.func.value, ast.Name) and n.args]
    changed = True
    while changed:
        changed = False
        for a in appends:  # latencies.append(time.monotonic() - t1)
            if a.func.value.id not in names and holds(a.args[0], names):
                names.add(a.func.value.id)
                changed = True
        for a in assigns:
            if a.value is None or not holds(a.value, names):
                continue
            for t in (a.targets if isinstance(a, ast.Assign) else [a.target]):
                new = target_names(t) - names
                if new:
                    names |= new
                    changed = True
    return names


def tainted_names(scope, inherited=frozenset()):
    """Names assigned (directly or through other tainted names) from a clock reading."""
    return names_flowing_from(scope, involves_time, inherited)


# ------------------------------------------------------------------------------------------
# the three counts


ORDER_OPS = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)


RANK = {"relative": 0, "lower": 1, "clock": 2, "generous": 3, "scaled": 4, "fixed": 5}


def is_duration(node, durations, tainted):
    """A duration: a difference of clock readings, or a name holding one (took, elapsed, a
    list of latencies), as opposed to a single reading (t0 = time.time())."""
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and (n.id in durations or n.id in TIME_NAMES):
            return True
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Sub) \
                and involves_time(n.left, tainted) and involves_time(n.right, tainted):
            return True
    return False


def duration_names(scope, tainted, inherited=frozenset()):
    return names_flowing_from(scope, lambda e, names: is_duration(e, names, tainted), inherited,
                              annotated=False)


def module_constants(tree):
    """NAME = <number> at module level (FAST = 1.0, DRAIN = 2, ...)."""
    out = {}
    for n in tree.body:
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant) \
                and isinstance(n.value.value, (int, float)) and not isinstance(n.value.value, bool):
            for t in n.targets:
                if isinstance(t, ast.Name):
                    out[t.id] = n.value.value
    return out


def numbers(nodes, consts):
    for node in nodes:
        for n in ast.walk(node):
            if isinstance(n, ast.Constant) and isinstance(n.value, (int, float)) \
                    and not isinstance(n.value, bool):
                yield abs(n.value)
            elif isinstance(n, ast.Name) and n.id in consts:
                yield abs(consts[n.id])


def scaled_names(scope, inherited=frozenset()):
    """Names assigned (directly or through each other) from an expression that goes through
    the scale factor: FAST = harness.scaled(3.0), SHUTDOWN = DRAIN + 6, limit = ... ."""
    names = set(inherited)
    assigns = [n for n in own_nodes(scope) if isinstance(n, ast.Assign)]
    changed = True
    while changed:
        changed = False
        for a in assigns:
            if uses_scale(a.value, names):
                for t in a.targets:
                    new = target_names(t) - names
                    if new:
                        names |= new
                        changed = True
    return names


def pair_kind(small, large, tainted, durations, consts, scaled):
    """Kind of the bound `small <(=) large`, or None when no time value is in it."""
    ts, tl = involves_time(small, tainted), involves_time(large, tainted)
    if not ts and not tl:
        return None
    if ts and tl:
        return "relative"
    timed, bound = (small, large) if ts else (large, small)
    if not is_duration(timed, durations, tainted):
        return "clock"  # a timestamp of droplin's against the test's own clock readings
    if timed is large:
        return "lower"  # a duration at least so long: load cannot break it
    if uses_scale(bound, scaled):
        return "scaled"
    if max(numbers([bound], consts), default=0) >= GENEROUS:
        return "generous"
    return "fixed"


def time_asserts(scope, tainted, consts, scaled=frozenset(), durations=frozenset()):
    found = []
    for n in own_nodes(scope):
        if not isinstance(n, ast.Assert):
            continue
        hit = None
        for c in ast.walk(n.test):
            if not isinstance(c, ast.Compare):
                continue
            sides = [c.left] + list(c.comparators)
            for a, op, b in zip(sides, c.ops, sides[1:]):
                if isinstance(op, (ast.Lt, ast.LtE)):
                    kind = pair_kind(a, b, tainted, durations, consts, scaled)
                elif isinstance(op, (ast.Gt, ast.GtE)):
                    kind = pair_kind(b, a, tainted, durations, consts, scaled)
                else:
                    continue
                if kind and (hit is None or RANK[kind] > RANK[hit]):
                    hit = kind
        if hit:
            found.append((n.lineno, hit))
    return found


def is_absence_test(test):
    for c in ast.walk(test):
        if isinstance(c, ast.UnaryOp) and isinstance(c.op, ast.Not):
            return True
        if isinstance(c, ast.Compare):
            for op, right in zip(c.ops, c.comparators):
                if isinstance(op, ast.NotIn):
                    return True
                if isinstance(op, ast.Is) and isinstance(right, ast.Constant) and right.value is None:
                    return True
                if isinstance(op, ast.Eq):
                    if isinstance(right, ast.Constant) and right.value in (0, "", b"") \
                            and not isinstance(right.value, bool):
                        return True
                    if isinstance(right, (ast.List, ast.Dict, ast.Tuple, ast.Set)) \
                            and not getattr(right, "elts", getattr(right, "keys", None)):
                        return True
                    if isinstance(right, ast.Call) and call_name(right) in ("set", "list", "dict") \
                            and not right.args:
                        return True
    return False


def sleep_helpers(trees):
    """Functions whose body is essentially a sleep (settle()): calling one is a sleep."""
    out = set()
    for tree in trees:
        for f in ast.walk(tree):
            if not isinstance(f, ast.FunctionDef):
                continue
            body = [s for s in f.body if not (isinstance(s, ast.Expr)
                                              and isinstance(s.value, ast.Constant))]
            if len(body) == 1 and isinstance(body[0], ast.Expr) \
                    and call_name(body[0].value) == "sleep":
                out.add(f.name)
    return out


def polling_sleeps(scope):
    """Sleeps directly in a while loop's body: the pause of a bounded poll, not a barrier."""
    out = set()
    for w in own_nodes(scope):
        if isinstance(w, ast.While):
            for st in w.body:
                if isinstance(st, ast.Expr) and call_name(st.value) == "sleep":
                    out.add(st.lineno)
    return out


def sleep_absences(scope, helpers):
    sleeps, absences = [], []
    polls = polling_sleeps(scope)
    for n in own_nodes(scope):
        if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call):
            name = call_name(n.value)
            f = n.value.func
            if (name == "sleep" and not (isinstance(f, ast.Attribute)
                                         and isinstance(f.value, ast.Name)
                                         and f.value.id == "asyncio")) or name in helpers:
                if n.lineno not in polls:
                    sleeps.append(n.lineno)
        elif isinstance(n, ast.Assert) and is_absence_test(n.test):
            absences.append(n.lineno)
    found = {}
    for s in sorted(sleeps):
        after = [a for a in absences if s < a <= s + WINDOW]
        if after:
            found[after[0]] = s  # one place per absence assert (the nearest sleep before it)
    return [(s, a) for a, s in found.items()]


def status_set(node):
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        vals = [e.value for e in node.elts if isinstance(e, ast.Constant)
                and isinstance(e.value, int) and 100 <= e.value <= 599]
        if len(vals) >= 2 and len(vals) == len(node.elts):
            return vals
    return None


STATUS_NAMES = {"status", "status_code", "code"}
EITHER_HELPERS = {"assert_400_or_422"}


def is_status(node):
    return (isinstance(node, ast.Attribute) and node.attr in STATUS_NAMES) or \
        (isinstance(node, ast.Name) and node.id in STATUS_NAMES)


def is_status_number(node):
    return isinstance(node, ast.Constant) and isinstance(node.value, int) \
        and not isinstance(node.value, bool) and 100 <= node.value <= 599


def status_ranges(scope):
    found = []
    for n in own_nodes(scope):
        if isinstance(n, ast.Call) and call_name(n) in EITHER_HELPERS:
            found.append((n.lineno, call_name(n)))
            continue
        if not isinstance(n, ast.Assert):
            continue
        for c in ast.walk(n.test):
            if not isinstance(c, ast.Compare):
                continue
            sides = [c.left] + list(c.comparators)
            if any(isinstance(op, ORDER_OPS) and ((is_status(a) and is_status_number(b))
                                                  or (is_status_number(a) and is_status(b)))
                   for a, op, b in zip(sides, c.ops, sides[1:])):
                found.append((n.lineno, ast.unparse(c)[:60]))
                break
    return found


def assigned_lines(scope):
    """(line, names) of every assignment-like statement of the scope."""
    out = []
    for n in own_nodes(scope):
        if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = n.targets if isinstance(n, ast.Assign) else [n.target]
            out.append((n.lineno, set().union(*(target_names(t) for t in targets))))
        elif isinstance(n, (ast.For, ast.AsyncFor, ast.comprehension)):
            out.append((getattr(n, "lineno", 0), target_names(n.target)))
        elif isinstance(n, (ast.With, ast.AsyncWith)):
            for item in n.items:
                if item.optional_vars is not None:
                    out.append((n.lineno, target_names(item.optional_vars)))
        elif isinstance(n, ast.NamedExpr):
            out.append((n.lineno, target_names(n.target)))
    return out


def repeats(scope, window=WINDOW):
    # an assert that calls something (a request, a query) checks a new value each time
    asserts = sorted((n.lineno, ast.dump(n.test), names_in(n.test))
                     for n in own_nodes(scope) if isinstance(n, ast.Assert)
                     and not any(isinstance(c, ast.Call) for c in ast.walk(n.test)))
    assigns = assigned_lines(scope)
    found = []
    for i, (line, dump, names) in enumerate(asserts):
        for prev, pdump, _ in asserts[:i]:
            if pdump == dump and line - prev <= window and not any(
                    prev < al <= line and targets & names for al, targets in assigns):
                found.append((line, prev))
                break
    return found


def either_outcomes(scope):
    found = []
    for n in own_nodes(scope):
        if not isinstance(n, ast.Assert):
            continue
        codes = None
        for c in ast.walk(n.test):
            if isinstance(c, ast.Compare):
                for op, right in zip(c.ops, c.comparators):
                    if isinstance(op, (ast.In, ast.LtE, ast.Lt)):
                        vals = status_set(right)
                        if vals:
                            codes = vals
            elif isinstance(c, ast.BoolOp) and isinstance(c.op, ast.Or):
                eqs = [v for v in c.values if isinstance(v, ast.Compare) and len(v.ops) == 1
                       and isinstance(v.ops[0], ast.Eq) and isinstance(v.comparators[0], ast.Constant)
                       and isinstance(v.comparators[0].value, int)
                       and 100 <= v.comparators[0].value <= 599]
                if len(eqs) >= 2 and len({ast.dump(v.left) for v in eqs}) == 1:
                    codes = [v.comparators[0].value for v in eqs]
        if codes:
            found.append((n.lineno, tuple(codes), len({v // 100 for v in codes}) > 1))
    return found


# ------------------------------------------------------------------------------------------


def audit(sources):
    trees = {}
    for path, text in sources.items():
        try:
            trees[path] = ast.parse(text, filename=path)
        except SyntaxError as e:
            print(f"warning: {path} does not parse: {e}", file=sys.stderr)
    helpers = sleep_helpers(trees.values())
    results = {}
    for path, tree in trees.items():
        module_taint = tainted_names(tree)
        consts = module_constants(tree)
        module_scaled = scaled_names(tree)
        module_durations = duration_names(tree, module_taint)
        ta, sa, eo, sr, rp = [], [], [], [], []
        for scope in functions(tree):
            tainted = tainted_names(scope, module_taint if scope is not tree else ())
            scaled = scaled_names(scope, module_scaled if scope is not tree else ())
            durs = duration_names(scope, tainted, module_durations if scope is not tree else ())
            ta += time_asserts(scope, tainted, consts, scaled, durs)
            sa += sleep_absences(scope, helpers)
            eo += either_outcomes(scope)
            sr += status_ranges(scope)
            rp += repeats(scope)
        results[path] = (sorted(set(ta)), sorted(set(sa)), sorted(set(eo)), sorted(set(sr)),
                         sorted(set(rp)))
    return results, helpers


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rev", help="audit this git revision instead of the working tree")
    ap.add_argument("--root", default=REPO, help="repository root (default: this one)")
    ap.add_argument("-v", "--verbose", action="store_true", help="list every site")
    args = ap.parse_args()
    sources = sources_rev(args.root, args.rev) if args.rev else sources_worktree(args.root)
    results, helpers = audit(sources)

    cols = ["time", "fixed", "scaled", "gener", "clock", "lower", "relat", "sl-abs", "either",
            "mixed", "range", "repeat"]
    print(f"timing audit of {args.rev or 'the working tree'} (sleep helpers: "
          f"{', '.join(sorted(helpers)) or 'none'})")
    print(f"{'file':46}" + "".join(f"{c:>7}" for c in cols))
    tot = [0] * len(cols)
    for path, (ta, sa, eo, sr, rp) in sorted(results.items()):
        kinds = [k for _, k in ta]
        row = [len(ta)] + [kinds.count(k) for k in ("fixed", "scaled", "generous", "clock",
                                                    "lower", "relative")] \
            + [len(sa), len(eo), sum(m for _, _, m in eo), len(sr), len(rp)]
        tot = [a + b for a, b in zip(tot, row)]
        if any(row):
            print(f"{path:46}" + "".join(f"{v:>7}" for v in row))
        if args.verbose:
            for line, kind in ta:
                print(f"    {path}:{line}: time assert ({kind})")
            for s, a in sa:
                print(f"    {path}:{s}: sleep, then absence assert at line {a}")
            for line, codes, mixed in eo:
                print(f"    {path}:{line}: accepts {codes}{' (mixed classes)' if mixed else ''}")
            for line, what in sr:
                print(f"    {path}:{line}: status range {what}")
            for line, prev in rp:
                print(f"    {path}:{line}: repeats the assert of line {prev}")
    print(f"{'TOTAL':46}" + "".join(f"{v:>7}" for v in tot))
    print(f"\nassertions against time: {tot[0]} (upper bounds on a duration: fixed and short "
          f"{tot[1]}, scaled {tot[2]}, generous >= {GENEROUS} s {tot[3]}; timestamps against "
          f"the test's clock {tot[4]}; lower bounds {tot[5]}; relative to a baseline {tot[6]})")
    print(f"sleep-then-absence checks: {tot[7]}")
    print(f"either-outcome checks: {tot[8]} (statuses of different classes: {tot[9]}); "
          f"status ranges and either-status helpers: {tot[10]}; repeated asserts: {tot[11]}")


if __name__ == "__main__":
    main()
