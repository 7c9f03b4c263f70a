"""Lesson 13's corpus: the mixed-precision step, throughput and cost from a log, GPT-2's parameters."""

PRELUDE = "import math\nimport torch\nimport torch.nn.functional as F\n"

_STEP_HEAD = '''
def amp_step(model, ids, optimizer, scaler, dtype=None):
'''

CORPUS = {
    "q1": {
        "right": [
            '''
def amp_step(model, ids, optimizer, scaler, dtype=None):
    with torch.autocast(device_type=ids.device.type, dtype=dtype, enabled=dtype is not None):
        loss = model(input_ids=ids, labels=ids).loss
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(optimizer)
    scaler.update()
    return loss.item()
''',
            '''
import contextlib
def amp_step(model, ids, optimizer, scaler, dtype=None):
    ctx = torch.amp.autocast("cpu", dtype=dtype) if dtype is not None else contextlib.nullcontext()
    with ctx:
        logits = model(input_ids=ids).logits
    loss = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
    for p in model.parameters():
        p.grad = None
    scaled = scaler.scale(loss)
    scaled.backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(list(model.parameters()), max_norm=1.0)
    scaler.step(optimizer)
    scaler.update()
    return float(loss)
''',
            '''
def amp_step(model, ids, optimizer, scaler, dtype=None):
    optimizer.zero_grad()
    if dtype is None:
        out = model(input_ids=ids, labels=ids)
    else:
        with torch.autocast(ids.device.type, dtype=dtype):
            out = model(input_ids=ids, labels=ids)
    scaler.scale(out.loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(optimizer)
    scaler.update()
    return out.loss.detach().item()
''',
        ],
        "wrong": [
            ('''
def amp_step(model, ids, optimizer, scaler, dtype=None):
    with torch.autocast(device_type="cpu", dtype=dtype, enabled=dtype is not None):
        loss = model(input_ids=ids, labels=ids).loss
    optimizer.zero_grad()
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(optimizer)
    return loss.item()
''', "scaler.update"),
            ('''
def amp_step(model, ids, optimizer, scaler, dtype=None):
    with torch.autocast(device_type="cpu", dtype=dtype, enabled=dtype is not None):
        loss = model(input_ids=ids, labels=ids).loss
    optimizer.zero_grad()
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scaler.update()
    return loss.item()
''', "inf/NaN|scaler.step"),
            ('''
def amp_step(model, ids, optimizer, scaler, dtype=None):
    with torch.autocast(device_type="cpu", dtype=dtype, enabled=dtype is not None):
        loss = model(input_ids=ids, labels=ids).loss
    optimizer.zero_grad()
    scaler.scale(loss).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(optimizer)
    scaler.update()
    return loss.item()
''', "unscale"),
            ('''
def amp_step(model, ids, optimizer, scaler, dtype=None):
    with torch.autocast(device_type="cpu", dtype=dtype, enabled=dtype is not None):
        loss = model(input_ids=ids, labels=ids).loss
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(optimizer)
    scaler.update()
    return loss.item()
''', "stale gradients|zero_grad"),
            ('''
def amp_step(model, ids, optimizer, scaler, dtype=None):
    with torch.autocast(device_type="cpu", dtype=dtype, enabled=dtype is not None):
        loss = model(input_ids=ids, labels=ids).loss
    optimizer.zero_grad()
    scaled = scaler.scale(loss)
    scaled.backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(optimizer)
    scaler.update()
    return scaled.item()
''', "scaled"),
            ('''
def amp_step(model, ids, optimizer, scaler, dtype=None):
    loss = model(input_ids=ids, labels=ids).loss
    optimizer.zero_grad()
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(optimizer)
    scaler.update()
    return loss.item()
''', "autocast"),
            ('''
def amp_step(model, ids, optimizer, scaler, dtype=None):
    with torch.autocast(device_type="cpu", dtype=dtype, enabled=dtype is not None):
        loss = model(input_ids=ids, labels=ids).loss
    optimizer.zero_grad()
    loss.backward()
    scaler.step(optimizer)
    scaler.update()
    return loss.item()
''', "_scale is None|scale the loss"),
        ],
    },
    "q2": {
        "right": [
            '''
def throughput(log, skip=1):
    kept = [r for r in log if "tokens" in r][skip:]
    return sum(r["tokens"] for r in kept) / sum(r["seconds"] for r in kept)
''',
            '''
import numpy as np
def throughput(log, skip=1):
    steps = [r for r in log if r.get("tokens")]
    tokens = np.array([r["tokens"] for r in steps][skip:], dtype=float)
    seconds = np.array([r["seconds"] for r in steps][skip:], dtype=float)
    return tokens.sum() / seconds.sum()
''',
            '''
def throughput(log, skip=1):
    tokens = seconds = 0
    seen = 0
    for record in log:
        if "tokens" not in record:
            continue
        seen += 1
        if seen <= skip:
            continue
        tokens += record["tokens"]
        seconds += record["seconds"]
    return tokens / seconds
''',
        ],
        "wrong": [
            ('''
def throughput(log, skip=1):
    kept = [r for r in log if "tokens" in r]
    return sum(r["tokens"] for r in kept) / sum(r["seconds"] for r in kept)
''', "warm-up"),
            ('''
def throughput(log, skip=1):
    kept = [r for r in log if "tokens" in r][skip:]
    return sum(r["tokens"] / r["seconds"] for r in kept) / len(kept)
''', "per-step rates"),
            ('''
def throughput(log, skip=1):
    kept = [r for r in log if "tokens" in r]
    return sum(r["tokens"] for r in kept[skip:]) / sum(r["seconds"] for r in kept)
''', "kept its seconds"),
            ('''
def throughput(log, skip=1):
    last = log[-1]
    return last["tokens"] / last["seconds"]
''', "last step"),
            ('''
def throughput(log, skip=1):
    kept = [r for r in log if "tokens" in r]
    return (len(kept) - skip) * kept[0]["tokens"] / sum(r["seconds"] for r in kept[skip:])
''', "same number of tokens"),
            ('''
def throughput(log, skip=1):
    kept = log[skip:]
    return sum(r.get("tokens", 0) for r in kept) / sum(r["seconds"] for r in kept)
''', "throughput\\("),
        ],
    },
    "q3": {
        "right": [
            '''
def cost(log, price_per_gpu_hour, gpus=1):
    seconds = sum(r["seconds"] for r in log if "tokens" in r)
    return seconds / 3600 * price_per_gpu_hour * gpus
''',
            '''
def cost(log, price_per_gpu_hour, gpus=1):
    hours = sum(record["seconds"] for record in log if record.get("tokens")) / 60 / 60
    return gpus * hours * price_per_gpu_hour
''',
            '''
def cost(log, price_per_gpu_hour, gpus=1):
    total = 0.0
    for r in log:
        if "tokens" in r:
            total += r["seconds"] * gpus * price_per_gpu_hour / 3600.0
    return total
''',
        ],
        "wrong": [
            ('''
def cost(log, price_per_gpu_hour, gpus=1):
    kept = [r for r in log if "tokens" in r][1:]
    return sum(r["seconds"] for r in kept) / 3600 * price_per_gpu_hour * gpus
''', "warm-up"),
            ('''
def cost(log, price_per_gpu_hour, gpus=1):
    return sum(r["seconds"] for r in log if "tokens" in r) / 60 * price_per_gpu_hour * gpus
''', "3600"),
            ('''
def cost(log, price_per_gpu_hour, gpus=1):
    return sum(r["seconds"] for r in log if "tokens" in r) * price_per_gpu_hour * gpus
''', "hours"),
            ('''
def cost(log, price_per_gpu_hour, gpus=1):
    return sum(r["seconds"] for r in log if "tokens" in r) / 3600 * price_per_gpu_hour
''', "gpus"),
            ('''
def cost(log, price_per_gpu_hour, gpus=1):
    return sum(r["seconds"] for r in log) / 3600 * price_per_gpu_hour * gpus
''', "evaluation"),
        ],
    },
    "q4": {
        "right": [
            '''
def gpt2_params(vocab_size, n_layer, n_embd, block_size):
    d = n_embd
    return vocab_size * d + block_size * d + n_layer * (12 * d * d + 13 * d) + 2 * d
''',
            '''
def gpt2_params(vocab_size, n_layer, n_embd, block_size):
    d = n_embd
    attention = (d * 3 * d + 3 * d) + (d * d + d)
    mlp = (d * 4 * d + 4 * d) + (4 * d * d + d)
    norms = 2 * (2 * d)
    return vocab_size * d + block_size * d + n_layer * (attention + mlp + norms) + 2 * d
''',
            '''
def gpt2_params(vocab_size, n_layer, n_embd, block_size):
    shapes = [(vocab_size, n_embd), (block_size, n_embd)]
    for _ in range(n_layer):
        shapes += [(n_embd,), (n_embd,), (n_embd, 3 * n_embd), (3 * n_embd,), (n_embd, n_embd), (n_embd,),
                   (n_embd,), (n_embd,), (n_embd, 4 * n_embd), (4 * n_embd,), (4 * n_embd, n_embd), (n_embd,)]
    shapes += [(n_embd,), (n_embd,)]
    return sum(math.prod(s) for s in shapes)
''',
        ],
        "wrong": [
            ('''
def gpt2_params(vocab_size, n_layer, n_embd, block_size):
    d = n_embd
    return vocab_size * d + n_layer * (12 * d * d + 13 * d) + 2 * d
''', "position"),
            ('''
def gpt2_params(vocab_size, n_layer, n_embd, block_size):
    d = n_embd
    return 2 * vocab_size * d + block_size * d + n_layer * (12 * d * d + 13 * d) + 2 * d
''', "tied"),
            ('''
def gpt2_params(vocab_size, n_layer, n_embd, block_size):
    d = n_embd
    return vocab_size * d + block_size * d + n_layer * (12 * d * d + 4 * d) + 2 * d
''', "bias"),
            ('''
def gpt2_params(vocab_size, n_layer, n_embd, block_size):
    d = n_embd
    return vocab_size * d + block_size * d + n_layer * 12 * d * d + n_layer * 9 * d
''', "layer norms"),
            ('''
def gpt2_params(vocab_size, n_layer, n_embd, block_size):
    d = n_embd
    return vocab_size * d + block_size * d + n_layer * (10 * d * d + 11 * d) + 2 * d
''', "4 x n_embd"),
            ('''
def gpt2_params(vocab_size, n_layer, n_embd, block_size):
    return n_layer * (12 * n_embd ** 2 + 13 * n_embd)
''', "embeddings count"),
        ],
    },
}
