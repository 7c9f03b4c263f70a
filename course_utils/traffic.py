"""Simulated API traffic with ground truth: honest users and distillers (taught in lesson 09).

The provider's side of lesson 07. :func:`plan_traffic` writes a schedule of requests for many
accounts -- honest users of several kinds and distillers of several strategies -- each
request with its simulated time, prompt and settings; :func:`run_traffic` plays it against
the real server (:mod:`course_utils.api`) through the official ``openai`` client, one real
HTTP request and one real log row per planned request, while a :class:`~course_utils.api.SimClock`
shared with the server jumps from one request's time to the next (days of traffic in a
minute or two; rate limits follow simulated time). :func:`traffic_log` does both and caches
the log and the ground truth with :func:`course_utils.io.cached`, keyed on the whole
configuration.

Honest kinds (``HONEST_KINDS``):

* ``chat``      -- short questions about two to four topics of the Python docs, in working
  hours, a few per session, sometimes asked again;
* ``developer`` -- questions about the functions of one standard-library module;
* ``burst``     -- a developer testing a script: bursts of quick, similar requests;
* ``repeater``  -- the same few questions every working day (a cron job, a forgetful user);
* ``app``       -- a product built on the API: its users' texts wrapped in one or two templates,
  as many requests as a distiller, in one busy window of a few hours (the hard case: it looks
  like a distiller to a rate rule and to template counts).

Distiller strategies (``DISTILLER_KINDS``), scripts at a steady pace (one request every 20-90
simulated seconds, far under the rate limit), whatever the hour:

* ``snippets``      -- lesson 07's random corpus snippets with top-5 log-probabilities;
* ``coverage``      -- lesson 07's coverage prompts (greedy over candidates);
* ``step_by_step``  -- one template, "Explain step by step: ...", to harvest reasoning;
* ``logprobs``      -- the API's maximum of 20 top log-probabilities per token;
* ``long``          -- long completions;
* ``coordinated``   -- a group of accounts sharing one prompt list, each slow enough to
  stay far under the rate limit.

The ``adaptive`` distiller has a level ``a`` in [0, 1]: with ``a`` = 0 it is ``snippets``;
as ``a`` grows it paraphrases (wraps snippets in the question forms honest users use), drops
log-probabilities, paces itself like an honest user (working-hour sessions with think time
and a daily cap) and spreads the same harvest over more accounts.

Simulated time starts on a Monday at 00:00 (``t`` in seconds, :data:`~course_utils.api.clock.DAY`).
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass, field

from .api.clock import DAY, HOUR

__all__ = ["HONEST_KINDS", "DISTILLER_KINDS", "Account", "PlannedRequest", "TrafficPlan",
           "plan_traffic", "run_traffic", "traffic_log", "traffic_runs", "doc_topics",
           "module_names", "PLAN_KEYS",
           "QUESTION_FORMS"]

HONEST_KINDS = ("chat", "developer", "burst", "repeater", "app")
DISTILLER_KINDS = ("snippets", "coverage", "step_by_step", "logprobs", "long", "coordinated")

QUESTION_FORMS = (
    "How does {x} work in Python?", "What is {x}?", "Can you explain {x} briefly?",
    "Give me an example of {x}.", "When should I use {x}?", "what does {x} do",
    "Why does my code with {x} fail?", "Is {x} the right tool here?", "Quick question about {x}",
    "Explain {x} like I am new to Python.", "difference between {x} and {y}?",
    "Best practice for {x}?", "Help with {x} please", "{x} vs {y}",
)
_DEV_FORMS = (
    "What does {m}.{f} return?", "How do I call {m}.{f} with keyword arguments?",
    "Why does {m}.{f} raise an error here?", "Is {m}.{f} thread-safe?",
    "Example of {m}.{f} please", "{m}.{f} vs {m}.{g}: which one?",
    "What are the arguments of {m}.{f}?",
)
_BURST_FORMS = ("Fix this line: {s}", "Does this parse: {s}", "Rewrite: {s}", "Check: {s}")
_APP_FORMS = ("Summarize for a customer: {s}", "Explain this to a new user: {s}",
              "Translate into plain English: {s}", "Write a tooltip for: {s}",
              "Suggest a title for: {s}", "Proofread: {s}")
_STEP = "Explain step by step: {s}"
_GROUP = "Continue the documentation: {s}"
_MODULES = ("json", "os.path", "re", "itertools", "functools", "collections", "datetime",
            "pathlib", "random", "statistics", "string", "textwrap", "shutil", "csv")


def doc_topics() -> list[str]:
    """The topics of Python's documentation (``pydoc_data.topics``), as words a user asks about."""
    from pydoc_data.topics import topics
    return [k.replace("-", " ") for k in sorted(topics)]


def module_names(module: str) -> list[str]:
    """The public names of a standard-library module (what a developer asks about)."""
    import importlib
    mod = importlib.import_module(module)
    return sorted(n for n in dir(mod) if not n.startswith("_"))[:60]


@dataclass
class Account:
    """Ground truth of one account: its kind, whether it distils, its group and level."""
    name: str
    kind: str
    distiller: bool
    group: str = ""
    level: float = 0.0


@dataclass
class PlannedRequest:
    """One planned request: when, who, what."""
    t: float
    account: str
    prompt: str
    max_tokens: int
    top_logprobs: int = 0
    temperature: float = 1.0


@dataclass
class TrafficPlan:
    """Accounts and their requests (in time order), with the settings that made them."""
    accounts: list
    requests: list
    config: dict = field(default_factory=dict)

    def truth(self):
        """Ground truth per account as a DataFrame (name, kind, distiller, group, level)."""
        import pandas as pd
        return pd.DataFrame([asdict(a) for a in self.accounts]).set_index("name", drop=False)

    def table(self):
        """The planned requests as a DataFrame, one row per request, in time order."""
        import pandas as pd
        return pd.DataFrame([asdict(r) for r in self.requests])


# --------------------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------------------
def _working_sessions(rng, days, n_requests, offset_h, think_s=90.0, per_session=(2, 6)):
    """Times of ``n_requests`` in sessions inside working hours (9-18 local, weekdays mostly)."""
    times = []
    while len(times) < n_requests:
        day = rng.randrange(int(days))
        if day % 7 >= 5 and rng.random() < 0.8:       # weekends: mostly quiet
            continue
        t = day * DAY + (rng.uniform(9, 17.5) + offset_h) * HOUR
        for _ in range(rng.randint(*per_session)):
            times.append(t)
            t += rng.expovariate(1 / think_s) + 5
    return sorted(times[:n_requests])


def _steady(rng, start, n, interval, jitter=0.1):
    """``n`` times from ``start``, one every ``interval`` s (a little jitter): a script's pace."""
    times, t = [], start
    for _ in range(n):
        times.append(t)
        t += interval * (1 + rng.uniform(-jitter, jitter))
    return times


def _snippets(texts, n, rng, max_chars):
    from .harvest import random_snippets
    return random_snippets(texts, n, n_words=(3, 8), seed=rng.randrange(2**31), max_chars=max_chars)


def plan_traffic(texts, *, seed: int = 0, days: float = 5, honest_per_kind: int = 10,
                 honest_requests: int = 20, distillers_per_kind: int = 2,
                 distiller_requests: int = 150, group_size: int = 4,
                 adaptive_levels=(0.5, 1.0), adaptive_accounts: int = 2, apps: int = 2,
                 max_tokens: int = 8, long_max_tokens: int = 24, rpm: int = 20,
                 max_chars: int = 60) -> TrafficPlan:
    """A schedule of honest and distilling accounts over ``days`` simulated days.

    ``texts``: the corpus distillers cut prompts from (lesson 07's). Honest accounts send about
    ``honest_requests`` requests each (Poisson), except ``apps`` product accounts that send
    about ``distiller_requests``; distillers send ``distiller_requests`` each; the
    ``coordinated`` group shares ``group_size * distiller_requests`` prompts among
    ``group_size`` accounts; an adaptive distiller of level ``a`` buys the same
    ``adaptive_accounts * distiller_requests`` prompts over ``ceil(adaptive_accounts *
    (1 + 2a))`` accounts. ``rpm``: the rate limit every account gets (the plan keeps every
    steady distiller under it). Taught in lesson 09.
    """
    if days < 1 or honest_per_kind < 1 or distiller_requests < 1:
        raise ValueError("plan_traffic needs days >= 1, honest_per_kind >= 1 and "
                         "distiller_requests >= 1.")
    rng = random.Random(seed)
    texts = list(texts)
    topics = doc_topics()
    accounts, requests = [], []
    n_acc = 0

    def new_account(kind, distiller, group="", level=0.0):
        nonlocal n_acc
        n_acc += 1
        acc = Account(f"acct-{n_acc:03d}", kind, distiller, group, float(level))
        accounts.append(acc)
        return acc

    def add(acc, times, prompts, mt=max_tokens, k=0, temp=1.0):
        for t, p in zip(times, prompts):
            requests.append(PlannedRequest(float(t), acc.name, p[:2 * max_chars], int(mt),
                                           int(k), temp))

    def ask(x, y):
        return rng.choice(QUESTION_FORMS).format(x=x, y=y)

    # ---- honest users -----------------------------------------------------------------
    for _ in range(apps):     # products built on the API: busy, templated, by day and night
        acc = new_account("app", False)
        n = max(3, _poisson(rng, distiller_requests))
        forms = rng.sample(_APP_FORMS, 2)
        user_texts = _snippets(texts, n, rng, max_chars)
        prompts = [rng.choice(forms).format(s=rng.choice(user_texts[:max(1, i)]) if
                                            rng.random() < 0.15 else user_texts[i])
                   for i in range(n)]
        # its users arrive at random during one busy window of 4-8 hours (a launch, a campaign)
        start = rng.randrange(int(days)) * DAY + rng.uniform(8, 14) * HOUR
        times = sorted(start + rng.uniform(0, rng.uniform(4, 8) * HOUR) for _ in range(n))
        add(acc, times, prompts, temp=0.7)
    for _ in range(honest_per_kind):
        for kind in HONEST_KINDS[:-1]:
            acc = new_account(kind, False)
            n = max(3, _poisson(rng, honest_requests))
            off = rng.uniform(-2, 2)
            if kind == "chat":
                mine = rng.sample(topics, rng.randint(2, 4))
                asked = []
                prompts = []
                for _ in range(n):
                    if asked and rng.random() < 0.2:
                        prompts.append(rng.choice(asked))        # the same question again
                    else:
                        q = ask(rng.choice(mine), rng.choice(mine))
                        asked.append(q)
                        prompts.append(q)
                add(acc, _working_sessions(rng, days, n, off), prompts,
                    mt=rng.choice([max_tokens, max_tokens // 2 or 1]))
            elif kind == "developer":
                m = rng.choice(_MODULES)
                names = module_names(m)
                prompts = [rng.choice(_DEV_FORMS).format(m=m, f=rng.choice(names),
                                                         g=rng.choice(names)) for _ in range(n)]
                add(acc, _working_sessions(rng, days, n, off, think_s=150), prompts,
                    k=rng.choice([0, 0, 0, 1]))
            elif kind == "burst":
                prompts, times = [], []
                base = _snippets(texts, 3, rng, max_chars)
                while len(times) < n:
                    day = rng.randrange(int(days))
                    t = day * DAY + (rng.uniform(10, 17) + off) * HOUR
                    for _ in range(rng.randint(5, 15)):
                        times.append(t)
                        t += rng.uniform(3, 12)
                        prompts.append(rng.choice(_BURST_FORMS).format(s=rng.choice(base)))
                order = sorted(range(len(times)), key=times.__getitem__)
                add(acc, [times[i] for i in order], [prompts[i] for i in order])
            else:   # repeater: the same few questions every working day
                qs = [ask(rng.choice(topics), rng.choice(topics)) for _ in range(rng.randint(1, 3))]
                at = (rng.uniform(8, 10) + off) * HOUR
                times, prompts = [], []
                d = 0
                while len(times) < n and d < days:
                    if d % 7 < 5:
                        for j, q in enumerate(qs):
                            times.append(d * DAY + at + 30 * j + rng.uniform(0, 20))
                            prompts.append(q)
                    d += 1
                add(acc, times[:n], prompts[:n])

    # ---- distillers -------------------------------------------------------------------
    def steady_start(span):
        return rng.uniform(0, max(days * DAY - span, 1.0))

    n = distiller_requests
    for _ in range(distillers_per_kind):
        for kind in DISTILLER_KINDS[:-1]:
            acc = new_account(kind, True)
            gap = rng.uniform(20, 90)          # a patient script: far under the rate limit
            times = _steady(rng, steady_start(n * gap), n, gap)
            if kind == "coverage":
                from .harvest import max_coverage
                prompts = max_coverage(_snippets(texts, 4 * n, rng, max_chars), n)
            elif kind == "step_by_step":
                prompts = [_STEP.format(s=s) for s in _snippets(texts, n, rng, max_chars)]
            else:
                prompts = _snippets(texts, n, rng, max_chars)
            add(acc, times, prompts, mt=long_max_tokens if kind == "long" else max_tokens,
                k={"snippets": 5, "coverage": 5, "step_by_step": 0, "logprobs": 20,
                   "long": 0}[kind])
    # the coordinated group: one shared list of prompts, dealt round robin, each account slow
    shared = [_GROUP.format(s=s) for s in _snippets(texts, group_size * n, rng, max_chars)]
    start = rng.uniform(0, days * DAY / 3)
    for g in range(group_size):
        acc = new_account("coordinated", True, group="group-1")
        gap = rng.uniform(120, 360)             # each account slower than most honest bursts
        add(acc, _steady(rng, start + rng.uniform(0, HOUR), n, gap), shared[g::group_size],
            k=10)
    # adaptive distillers
    for level in adaptive_levels:
        total = adaptive_accounts * n
        n_accounts = math.ceil(adaptive_accounts * (1 + 2 * level))
        snippets = _snippets(texts, total, rng, max_chars)
        prompts = [ask(s, s) if rng.random() < level else s for s in snippets]
        per = [prompts[i::n_accounts] for i in range(n_accounts)]
        for mine in per:
            acc = new_account("adaptive", True, group=f"adaptive-{level:g}", level=level)
            off = rng.uniform(-2, 2)
            m = len(mine)
            if rng.random() < level:       # paces like an honest user: working-hour sessions
                times = _working_sessions(rng, days, m, off, think_s=90, per_session=(3, 10))
            else:
                gap = rng.uniform(20, 90) * (1 + 10 * level)
                times = _steady(rng, steady_start(m * gap), m, gap, jitter=0.1 + level)
            k = 0 if rng.random() < level else 5
            add(acc, times, mine, k=k)

    rng.shuffle(accounts)                                  # names say nothing about kinds
    names = {a.name: f"acct-{i:03d}" for i, a in enumerate(accounts)}
    for a in accounts:
        a.name = names[a.name]
    for r in requests:
        r.account = names[r.account]
    accounts.sort(key=lambda a: a.name)
    requests.sort(key=lambda r: (r.t, r.account))
    config = dict(seed=seed, days=days, honest_per_kind=honest_per_kind,
                  honest_requests=honest_requests, distillers_per_kind=distillers_per_kind,
                  distiller_requests=distiller_requests, group_size=group_size,
                  adaptive_levels=list(adaptive_levels), adaptive_accounts=adaptive_accounts,
                  apps=apps,
                  max_tokens=max_tokens, long_max_tokens=long_max_tokens, rpm=rpm,
                  max_chars=max_chars)
    return TrafficPlan(accounts, requests, config)


def _poisson(rng, mean):
    # Knuth's method is fine for the small means here; a normal approximation above 50
    if mean > 50:
        return max(0, int(round(rng.gauss(mean, math.sqrt(mean)))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


# --------------------------------------------------------------------------------------
# Playing a plan against the real server
# --------------------------------------------------------------------------------------
def run_traffic(api, plan: TrafficPlan, clock, progress: bool = True, seed: int = 0):
    """Send every planned request to ``api`` (a running :class:`~course_utils.api.TeacherAPI`)
    through the ``openai`` client, moving the shared ``clock`` to each request's time.

    Opens one account per planned account (limits: the plan's ``rpm``), sends requests in
    time order, one at a time, and returns the HTTP status of each (a list, in plan order):
    200, or 429 when a request broke its account's rate limit, or 403 once revoked (the
    planned request is not retried). Every request is one row of the server's log.
    Taught in lesson 09.
    """
    import openai
    from tqdm.auto import tqdm
    rpm = plan.config.get("rpm")
    keys = {}
    for acc in plan.accounts:
        if not any(p.name == acc.name for p in api.keys.values()):
            keys[acc.name] = api.add_account(acc.name, rpm=rpm)
        else:
            keys[acc.name] = next(k for k, p in api.keys.items() if p.name == acc.name)
    import httpx
    http = httpx.Client(timeout=60)
    clients = {name: openai.OpenAI(base_url=api.base_url, api_key=key, max_retries=0,
                                   http_client=http) for name, key in keys.items()}
    statuses = []
    try:
        for i, r in enumerate(tqdm(plan.requests, disable=not progress, desc="traffic",
                                   unit="req", mininterval=1.0)):
            clock.set(r.t)
            extra = dict(logprobs=True, top_logprobs=r.top_logprobs) if r.top_logprobs else {}
            try:
                clients[r.account].chat.completions.create(
                    model=api.model_name, messages=[{"role": "user", "content": r.prompt}],
                    max_tokens=r.max_tokens, temperature=r.temperature,
                    seed=seed * 1_000_003 + i, **extra)
                statuses.append(200)
            except openai.APIStatusError as error:
                statuses.append(error.status_code)
    finally:
        http.close()
    return statuses


def traffic_log(model, tokenizer, texts, *, price_in: float = 0.0025, price_out: float = 0.01,
                progress: bool = True, retrain: bool = False, **plan_kwargs):
    """Plan traffic, play it against a fresh server for ``model``, and return
    ``(log, plan)``: the request log (a DataFrame, :func:`course_utils.api.read_log`) and the
    :class:`TrafficPlan` (ground truth). Cached on disk, keyed on the plan's settings and its
    whole schedule, the prices, the model's parameters and the corpus. Taught in lesson 09.
    """
    import hashlib

    import pandas as pd
    from .api import SimClock, TeacherAPI, read_log
    from .io import cache_entry, cached
    plan = plan_traffic(texts, **plan_kwargs)
    h = hashlib.sha1()
    for t in texts:
        h.update(t.encode("utf-8", "replace"))
    weights = hashlib.sha1()
    for name, p in sorted(model.state_dict().items()):
        weights.update(name.encode())
        weights.update(p.detach().cpu().float().numpy().tobytes()[:4096])
    schedule = hashlib.sha1(json.dumps([asdict(r) for r in plan.requests] +
                                       [asdict(a) for a in plan.accounts]).encode())
    key = dict(plan=plan.config, schedule=schedule.hexdigest(), price_in=price_in,
               price_out=price_out, corpus=h.hexdigest(), model=weights.hexdigest(), version=1)
    path = cache_entry("traffic", "log", key)

    def build():
        import tempfile
        from pathlib import Path
        clock = SimClock(0.0)
        with tempfile.TemporaryDirectory() as tmp:
            log_path = Path(tmp) / "log.sqlite"
            with TeacherAPI(model, tokenizer, model_name="course-teacher", keys={},
                            price_per_1k_prompt=price_in, price_per_1k_completion=price_out,
                            log_path=log_path, clock=clock) as api:
                run_traffic(api, plan, clock, progress=progress)
            return read_log(log_path)

    def save(log, tmp):
        from pathlib import Path
        Path(tmp).mkdir(parents=True, exist_ok=True)
        log.to_pickle(Path(tmp) / "log.pkl")
        (Path(tmp) / "config.json").write_text(json.dumps(key))

    def load(p):
        from pathlib import Path
        return pd.read_pickle(Path(p) / "log.pkl")

    log, _ = cached(path, build, save, load, retrain=retrain, what="traffic log")
    return log, plan


PLAN_KEYS = ("days", "honest_per_kind", "honest_requests", "distillers_per_kind",
             "distiller_requests", "group_size", "adaptive_levels", "adaptive_accounts", "apps",
             "max_tokens", "long_max_tokens", "rpm", "max_chars")


def traffic_runs(model, tokenizer, texts, sizes, progress: bool = True) -> dict:
    """``{seed: (log, plan)}``: one cached :func:`traffic_log` per seed in ``sizes.seeds``, with
    the plan's settings read from ``sizes`` (``size("extraction_traffic")``). The lesson and its
    results tests call this with the same arguments, so they share the cached logs.
    Taught in lesson 09."""
    args = {k: getattr(sizes, k) for k in PLAN_KEYS}
    return {seed: traffic_log(model, tokenizer, texts, seed=seed, progress=progress, **args)
            for seed in sizes.seeds}
