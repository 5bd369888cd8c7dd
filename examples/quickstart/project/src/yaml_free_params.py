"""Read params.yaml without third-party packages (it is a two-level mapping here)."""


def load(path="params.yaml"):
    out, section = {}, None
    with open(path) as f:
        lines = f.readlines()
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, _, value = line.strip().partition(":")
        if not line.startswith(" "):
            section = out.setdefault(key, {})
        else:
            section[key] = float(value) if "." in value else int(value)
    return out
