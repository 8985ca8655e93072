"""The access-log policy's parts without gunicorn: option parsing, the sampling decision's rate and determinism."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gunicorn_loggers.access_policy import (
    AccessPolicy,
    load_access_policy,
    random_bits_of_text,
    random_bits_of_trace,
    sampled_in,
    trace_sampling_facts,
)
from gunicorn_loggers.config import ConfigError
from tests.gunicorn_process import REPO

IDS = 100_000


def policy(**env: str) -> AccessPolicy:
    return load_access_policy({f"GUNICORN_LOGGERS_{k}": v for k, v in env.items()})


@pytest.mark.parametrize("rate", [0.0, 0.01, 0.05, 0.25, 0.5, 0.9, 1.0])
def test_the_decision_keeps_the_rate_over_100_000_random_trace_ids(rate):
    threshold = AccessPolicy(sample_rate=rate).threshold
    kept = sum(sampled_in(random_bits_of_trace(os.urandom(16).hex()), threshold) for _ in range(IDS))
    # Binomial: 4.5 standard deviations either side fails by chance once in about 150 000 runs.
    tolerance = 4.5 * (IDS * rate * (1 - rate)) ** 0.5
    assert abs(kept - rate * IDS) <= tolerance, (kept, rate * IDS, tolerance)


def test_the_decision_keeps_the_rate_over_100_000_request_ids():
    threshold = AccessPolicy(sample_rate=0.1).threshold
    kept = sum(sampled_in(random_bits_of_text(f"req-{n}"), threshold) for n in range(IDS))
    assert abs(kept - 10_000) <= 4.5 * (IDS * 0.1 * 0.9) ** 0.5


def test_a_lower_rate_keeps_a_subset_of_what_a_higher_one_keeps():
    """Consistent sampling: a service at 5 % keeps only traces a service at 20 % keeps too."""
    traces = [os.urandom(16).hex() for _ in range(20_000)]
    low, high = AccessPolicy(sample_rate=0.05).threshold, AccessPolicy(sample_rate=0.2).threshold
    kept_low = {t for t in traces if sampled_in(random_bits_of_trace(t), low)}
    kept_high = {t for t in traces if sampled_in(random_bits_of_trace(t), high)}
    assert kept_low < kept_high


def test_the_same_ids_give_the_same_decisions_in_another_process():
    ids = [f"{n:032x}" for n in range(1, 2001)] + [os.urandom(16).hex() for _ in range(2000)]
    here = "".join(
        "1" if sampled_in(random_bits_of_trace(i), AccessPolicy(sample_rate=0.3).threshold) else "0" for i in ids
    )
    here += "".join(
        "1" if sampled_in(random_bits_of_text(i), AccessPolicy(sample_rate=0.3).threshold) else "0" for i in ids
    )
    script = (
        "import sys\n"
        "from gunicorn_loggers.access_policy import AccessPolicy, sampled_in\n"
        "from gunicorn_loggers.access_policy import random_bits_of_text, random_bits_of_trace\n"
        "ids = sys.stdin.read().split()\n"
        "t = AccessPolicy(sample_rate=0.3).threshold\n"
        "print(''.join('1' if sampled_in(random_bits_of_trace(i), t) else '0' for i in ids)"
        " + ''.join('1' if sampled_in(random_bits_of_text(i), t) else '0' for i in ids))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": "12345"}
    there = subprocess.run(
        [sys.executable, "-c", script], input="\n".join(ids).encode(), capture_output=True, env=env, timeout=60
    )
    assert there.returncode == 0, there.stderr.decode()
    assert there.stdout.decode().strip() == here
    assert 0.2 < here.count("1") / len(here) < 0.4


def test_the_bits_are_the_trace_ids_56_rightmost():
    assert random_bits_of_trace("0af7651916cd43dd8448eb211c80319c") == 0x48EB211C80319C
    assert AccessPolicy(sample_rate=1.0).threshold == 0
    assert AccessPolicy(sample_rate=0.0).threshold == 1 << 56  # nothing reaches it: all sampled out


def test_the_decision_reads_the_version_the_flags_and_the_trace_ids_random_bits():
    valid = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert trace_sampling_facts(valid) == (0, True)  # sampled: always kept, the bits are not read
    assert trace_sampling_facts(valid[:-2] + "00") == (0x48EB211C80319C, False)
    assert trace_sampling_facts(valid[:-2] + "03") == (0, True)  # bit 0, whatever the other bits
    unsampled = valid[:-2] + "00"
    for bad in (None, b"bytes", "", unsampled + "-x", "01" + unsampled[2:], "00-" + "0" * 32 + unsampled[35:],
                unsampled[:-2] + "0g", unsampled[:30] + "zz" + unsampled[32:], unsampled[:52] + "_00"):  # fmt: skip
        assert trace_sampling_facts(bad) == (None, False), bad


def test_skip_patterns_parse_paths_prefixes_and_user_agents():
    parsed = policy(ACCESS_SKIP="/healthz, /static/*, ua:kube-probe/*, ua:GoogleHC/1.0, /café")
    assert parsed.skip_paths == frozenset({"/healthz", "/café".encode().decode("latin-1")})
    assert parsed.skip_path_prefixes == ("/static/",)
    assert parsed.skip_agents == frozenset({"GoogleHC/1.0"})
    assert parsed.skip_agent_prefixes == ("kube-probe/",)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ACCESS_SKIP": "/healthz,,/ready"}, "GUNICORN_LOGGERS_ACCESS_SKIP has an empty pattern"),
        ({"ACCESS_SKIP": "ua:"}, "'ua:' is not a user agent pattern"),
        ({"ACCESS_SKIP": "ua:*probe"}, "'ua:*probe' is not a user agent pattern"),
        ({"ACCESS_SKIP": "healthz"}, "'healthz' is neither a path"),
        ({"ACCESS_SKIP": "/a*/b"}, "a path pattern takes one * at its end only"),
        ({"ACCESS_SAMPLE": "1.5"}, "GUNICORN_LOGGERS_ACCESS_SAMPLE='1.5' is not a fraction from 0 to 1"),
        ({"ACCESS_SAMPLE": "-0.1"}, "is not a fraction from 0 to 1"),
        ({"ACCESS_SAMPLE": "nan"}, "is not a fraction from 0 to 1"),
        ({"ACCESS_SAMPLE": "5%"}, "is not a fraction from 0 to 1"),
        ({"ACCESS_LEVELS": "4xx=loud"}, "'4xx=loud' is not CLASS=LEVEL"),
        ({"ACCESS_LEVELS": "6xx=error"}, "'6xx=error' is not CLASS=LEVEL"),
        ({"ACCESS_LEVELS": "slow=warning"}, "set GUNICORN_LOGGERS_ACCESS_SLOW too"),
    ],
)
def test_bad_policy_values_are_one_clear_error(env, message):
    with pytest.raises(ConfigError) as caught:
        policy(**env)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_levels_start_from_the_default_table():
    assert policy().level_table() == {"5xx": "error"}
    assert policy(ACCESS_LEVELS="4xx=warning, 5xx=warning").level_table() == {"5xx": "warning", "4xx": "warning"}
