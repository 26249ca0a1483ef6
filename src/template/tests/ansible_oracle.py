"""Replays the template table tests against ansible-core.

The Rust table tests (src/template/tests/) write their cases to a file when
WINDLASS_TEMPLATE_CASES is set.  This script renders each case with
ansible-core's own Templar and reports where ansible-core disagrees with
the expected value written in the Rust test, so expectations are checked
against the real thing rather than memory.

    python3 -m venv /tmp/av && /tmp/av/bin/pip install ansible-core
    WINDLASS_TEMPLATE_CASES=/tmp/cases.jsonl cargo test --lib template
    /tmp/av/bin/python src/template/tests/ansible_oracle.py /tmp/cases.jsonl
"""
import json
import sys

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template


def run(case):
    templar = Templar(loader=DataLoader(), variables=case["vars"])
    src = trust_as_template(case["src"])
    if case["kind"] == "expr":
        return templar.evaluate_conditional(src)
    got = templar.template(src)
    if case["kind"] == "render" and not isinstance(got, str):
        # 2.19 returns a single expression's native value; as text it is
        # str() of it, and None renders as ''.
        got = "" if got is None else str(got)
    return got


def main():
    seen = set()
    disagreements = 0
    total = 0
    for line in open(sys.argv[1]):
        case = json.loads(line)
        key = (case["kind"], case["src"])
        if key in seen:
            continue
        seen.add(key)
        total += 1
        try:
            got = run(case)
        except Exception as e:  # report, keep going
            got = f"<error {type(e).__name__}: {e}>"
        if got != case["want"]:
            disagreements += 1
            print(f"{case['kind']}: {case['src']!r}\n  test expects {case['want']!r}\n  ansible gives {got!r}")
    print(f"{total - disagreements} agree, {disagreements} disagree")


main()
