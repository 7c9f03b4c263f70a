"""Lesson 08's corpus: parse the answer (malformed text), verify, filter (first row, any order)."""

PRELUDE = "import re\nfrom course_utils import reasoning as R\n"

CORPUS = {
    "q1": {
        "right": [
            "def parse_answer(text):\n    match = re.search(r'>(\\d+)\\s*$', text.strip())\n"
            "    return int(match.group(1)) if match else None\n",
            "def parse_answer(text):\n    if '>' not in text:\n        return None\n"
            "    tail = text.rsplit('>', 1)[1].strip()\n    return int(tail) if tail.isdigit() else None\n",
            "def parse_answer(text):\n    m = re.fullmatch(r'.*>([0-9]+)', text.strip(), flags=re.S)\n"
            "    if m is None:\n        return None\n    return int(m.group(1))\n",
        ],
        "wrong": [
            ("def parse_answer(text):\n    nums = re.findall(r'\\d+', text)\n    return int(nums[-1]) if nums else None\n",
             "last number anywhere"),
            ("def parse_answer(text):\n    parts = text.split('>')\n"
             "    return int(parts[1]) if len(parts) > 1 and parts[1].strip().isdigit() else None\n",
             "\\*last\\* one"),
            ("def parse_answer(text):\n    return int(text.split('>')[-1])\n", "raised ValueError"),
            ("def parse_answer(text):\n    m = re.search(r'>(\\d+)\\s*$', text.strip())\n    return m.group(1) if m else None\n",
             "return an int"),
            ("def parse_answer(text):\n    m = re.search(r'>(\\d+)\\s*$', text.strip())\n    return int(m.group(1)) if m else 0\n",
             "no final answer"),
            ("def parse_answer(text):\n    found = re.findall(r'>(\\d+)', text)\n    return int(found[-1]) if found else None\n",
             "very end"),
            ("def parse_answer(text):\n    m = re.search(r'>(\\d+)', text)\n    return int(m.group(1)) if m else None\n",
             "parse_answer\\("),
        ],
    },
    "q2": {
        "right": [
            "def verify(prompt, completion):\n    a, b = map(int, re.fullmatch(r'(\\d+)\\+(\\d+)=', prompt).groups())\n"
            "    answer = R.parse_answer(completion)\n    return answer is not None and answer == a + b\n",
            "def verify(prompt, completion):\n    a, b = prompt.rstrip('=').split('+')\n"
            "    m = re.search(r'>(\\d+)\\s*$', completion.strip())\n"
            "    return bool(m) and int(m.group(1)) == int(a) + int(b)\n",
            "def verify(prompt, completion):\n    x = R.parse_answer(completion)\n"
            "    if x is None:\n        return False\n    return x == sum(int(n) for n in re.findall(r'\\d+', prompt))\n",
        ],
        "wrong": [
            ("def verify(prompt, completion):\n    return R.parse_answer(completion) is not None\n", "right or wrong"),
            ("def verify(prompt, completion):\n    a, b = prompt.rstrip('=').split('+')\n"
             "    return completion.strip().endswith(str(int(a) + int(b)))\n", "compare numbers, not strings"),
            ("def verify(prompt, completion):\n    a, b = prompt.rstrip('=').split('+')\n"
             "    nums = re.findall(r'\\d+', completion)\n    return bool(nums) and int(nums[-1]) == int(a) + int(b)\n",
             "without a final `>`"),
            ("def verify(prompt, completion):\n    a, b = prompt.rstrip('=').split('+')\n"
             "    return R.parse_answer(completion) == int(a) * int(b)\n", "\\*sum\\*"),
            ("def verify(prompt, completion):\n    a, b = prompt.rstrip('=').split('+')\n"
             "    x = R.parse_answer(completion)\n    return None if x is None else x == int(a) + int(b)\n",
             "returned None"),
            ("def verify(prompt, completion):\n    a, b = prompt.rstrip('=').split('+')\n"
             "    return int(R.parse_answer(completion) == int(a) + int(b))\n", "True or False"),
            ("def verify(prompt, completion):\n    a, b = prompt.rstrip('=').split('+')\n"
             "    return completion.split('>')[-1].strip() == str(int(a) + int(b))\n", "verify\\("),
        ],
    },
    "q3": {
        "right": [
            "def filter_verified(rows):\n    kept, done = [], set()\n    for row in rows:\n"
            "        if row['prompt'] not in done and R.verify(row['prompt'], row['completion']):\n"
            "            kept.append(row)\n            done.add(row['prompt'])\n    return kept\n",
            "def filter_verified(rows):\n    first = {}\n    for r in rows:\n"
            "        if R.verify(r['prompt'], r['completion']):\n            first.setdefault(r['prompt'], r)\n"
            "    return sorted(first.values(), key=lambda r: r['prompt'])\n",
            "def filter_verified(rows):\n    for p in dict.fromkeys(r['prompt'] for r in rows):\n"
            "        good = [r for r in rows if r['prompt'] == p and R.verify(p, r['completion'])]\n"
            "        if good:\n            yield good[0]\n",
        ],
        "wrong": [
            ("def filter_verified(rows):\n    return [r for r in rows if R.verify(r['prompt'], r['completion'])]\n",
             "\\*every\\* correct"),
            ("def filter_verified(rows):\n    return list({r['prompt']: r for r in rows}.values())\n", "never check"),
            ("def filter_verified(rows):\n    return [r for r in rows if not R.verify(r['prompt'], r['completion'])]\n",
             "wrong answers"),
            ("def filter_verified(rows):\n"
             "    return list({r['prompt']: r for r in rows if R.verify(r['prompt'], r['completion'])}.values())\n",
             "\\*last\\*"),
            ("def filter_verified(rows):\n    seen = set()\n    out = []\n    for r in rows:\n"
             "        if r['prompt'] in seen:\n            continue\n        seen.add(r['prompt'])\n"
             "        if R.verify(r['prompt'], r['completion']):\n            out.append(r)\n    return out\n",
             "filter_verified\\("),
            ("def filter_verified(rows):\n    for r in list(rows):\n"
             "        if not R.verify(r['prompt'], r['completion']):\n            rows.remove(r)\n"
             "    return list({r['prompt']: r for r in reversed(rows)}.values())\n", "changed its argument `rows`"),
            ("def filter_verified(rows):\n    return [r['completion'] for r in rows if R.verify(r['prompt'], r['completion'])][:4]\n",
             "filter_verified\\("),
        ],
    },
}
