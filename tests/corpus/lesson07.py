"""Lesson 07's corpus: the bill, the retry loop (adversarial server waits), prompt coverage."""

PRELUDE = ("import math\nimport random\nimport time\nfrom decimal import Decimal\n"
           "from fractions import Fraction\nimport openai\n")

_RETRY = '''
def with_retries(create, max_retries=5, **request):
    for attempt in range(max_retries + 1):
        try:
            return create(**request)
        except openai.RateLimitError as error:
            if attempt == max_retries:
                raise
{wait}
            time.sleep(wait)
'''
_READS = ('            h = error.response.headers\n'
          '            wait = float(h["retry-after-ms"]) / 1000 if h.get("retry-after-ms") else float(h.get("retry-after", 1))')


def _retry(wait):
    return _RETRY.format(wait=wait)


_GREEDY = '''
def coverage_prompts(candidates, n):
    chosen, seen, left = [], set(), list(dict.fromkeys(candidates))
    for _ in range(n):
        best = max(left, key=lambda c: len({w.lower() for w in c.split()} - seen))
        chosen.append(best)
        seen |= {w.lower() for w in best.split()}
        left.remove(best)
    return chosen
'''

CORPUS = {
    "q1": {
        "right": [
            "def bill_for(usage, price_in_per_1k, price_out_per_1k):\n"
            "    return (usage.prompt_tokens * price_in_per_1k + usage.completion_tokens * price_out_per_1k) / 1000\n",
            "def bill_for(usage, pin, pout):\n"
            "    return (Decimal(usage.prompt_tokens) * Decimal(str(pin))\n"
            "            + Decimal(usage.completion_tokens) * Decimal(str(pout))) / Decimal(1000)\n",
            "def bill_for(usage, pin, pout):\n"
            "    return usage.prompt_tokens / 1000 * pin + (usage.total_tokens - usage.prompt_tokens) / 1000 * pout\n",
            "def bill_for(usage, pin, pout):\n"
            "    return Fraction(usage.prompt_tokens) * Fraction(str(pin)) / 1000 + "
            "Fraction(usage.completion_tokens) * Fraction(str(pout)) / 1000\n",
        ],
        "wrong": [
            ("def bill_for(u, pin, pout):\n    return u.total_tokens * pin / 1000\n", "prompt price"),
            ("def bill_for(u, pin, pout):\n    return u.prompt_tokens * pin + u.completion_tokens * pout\n", "1K"),
            ("def bill_for(u, pin, pout):\n    return (u.prompt_tokens * pout + u.completion_tokens * pin) / 1000\n",
             "swapped"),
            ("def bill_for(u, pin, pout):\n    return (u.prompt_tokens * pin + u.completion_tokens * pout) / 1e6\n",
             "bill_for\\("),
            ("def bill_for(u, pin, pout):\n    return round((u.prompt_tokens * pin + u.completion_tokens * pout) / 1000, 2)\n",
             "bill_for\\("),
            ("def bill_for(u, pin, pout):\n    return (u['prompt_tokens'] * pin + u['completion_tokens'] * pout) / 1000\n",
             "raised TypeError"),
            ("def bill_for(u, pin, pout):\n    return f'${(u.prompt_tokens * pin + u.completion_tokens * pout) / 1000:.4f}'\n",
             "should be a number"),
        ],
    },
    "q2": {
        "right": [
            _retry(_READS),
            '''
def with_retries(create, max_retries=5, **request):
    attempt = 0
    while True:
        try:
            return create(**request)
        except openai.RateLimitError as e:
            attempt += 1
            if attempt > max_retries:
                raise e
            ms = e.response.headers.get("retry-after-ms")
            time.sleep(int(ms) / 1000 if ms is not None else int(e.response.headers["retry-after"]))
''',
            '''
def with_retries(create, max_retries=5, **request):
    last = None
    for _ in range(max_retries + 1):
        try:
            return create(**request)
        except openai.RateLimitError as err:
            last = err
            headers = {k.lower(): v for k, v in err.response.headers.items()}
            if "retry-after-ms" in headers:
                delay = float(headers["retry-after-ms"]) / 1000.0
            else:
                delay = float(headers.get("retry-after", "1"))
            if _ < max_retries:
                time.sleep(delay)
    raise last
''',
        ],
        "wrong": [
            (_retry("            wait = 0.25"), "asked for"),
            (_retry("            wait = 0.05 * 2 ** attempt"), "asked for"),
            (_retry("            wait = float(error.response.headers.get('retry-after', 1))"), "asked for 0.5 s"),
            (_retry("            wait = 0"), "without waiting"),
            ('''
def with_retries(create, max_retries=5, **request):
    while True:
        try:
            return create(**request)
        except openai.RateLimitError as error:
            time.sleep(float(error.response.headers.get("retry-after-ms", 1000)) / 1000)
''', "max_retries=3|max_retries=0|did not finish"),
            ('''
def with_retries(create, max_retries=5, **request):
    for attempt in range(max_retries + 1):
        try:
            return create(**request)
        except openai.APIStatusError as error:
            if attempt == max_retries:
                raise
            h = error.response.headers
            time.sleep(float(h["retry-after-ms"]) / 1000 if h.get("retry-after-ms") else float(h.get("retry-after", 1)))
''', "retried a 400"),
            ('''
def with_retries(create, max_retries=5, **request):
    for attempt in range(max_retries):
        try:
            return create(**request)
        except openai.RateLimitError as error:
            h = error.response.headers
            time.sleep(float(h["retry-after-ms"]) / 1000 if h.get("retry-after-ms") else float(h.get("retry-after", 1)))
    return None
''', "re-raise"),
            ('''
def with_retries(create, max_retries=5, **request):
    try:
        return create(**request)
    except openai.RateLimitError:
        time.sleep(0.5)
        return create(**request)
''', "let a 429 through"),
            ('''
def with_retries(create, max_retries=5, **request):
    for attempt in range(max_retries + 1):
        try:
            return create(**request)
        except Exception as error:
            if attempt == max_retries:
                raise
            time.sleep(float(error.response.headers.get("retry-after-ms", 1000)) / 1000)
''', "retried a 400|400"),
        ],
    },
    "q3": {
        "right": [
            _GREEDY,
            '''
def coverage_prompts(candidates, n):
    covered, picked = set(), []
    pool = list(candidates)
    while len(picked) < n:
        gains = [len(set(w.lower() for w in c.split()) - covered) for c in pool]
        i = gains.index(max(gains))
        picked.append(pool.pop(i))
        covered.update(w.lower() for w in picked[-1].split())
    return picked
''',
            '''
def coverage_prompts(candidates, n):
    words = {c: {w.lower() for w in c.split()} for c in candidates}
    chosen, seen = [], set()
    for _ in range(n):
        best = sorted((c for c in words if c not in chosen), key=lambda c: -len(words[c] - seen))[0]
        chosen.append(best)
        seen |= words[best]
    return chosen
''',
        ],
        "wrong": [
            ("def coverage_prompts(candidates, n):\n    return candidates[:n]\n", "random picks"),
            ("def coverage_prompts(candidates, n):\n    return [candidates[0]] * n\n", "repeated"),
            ("def coverage_prompts(candidates, n):\n    return sorted(candidates, key=len, reverse=True)[:n]\n",
             "distinct words"),
            ("def coverage_prompts(candidates, n):\n    return random.sample(candidates, n)\n", "random"),
            (_GREEDY.replace("for _ in range(n):", "for _ in range(n - 1):"), "exactly 40"),
            ("def coverage_prompts(candidates, n):\n"
             "    return sorted(candidates, key=lambda c: len(set(c.split())), reverse=True)[:n]\n",
             "distinct words"),
            ("def coverage_prompts(candidates, n):\n    return [c.upper() for c in candidates[:n]]\n",
             "from `candidates`"),
        ],
    },
}
