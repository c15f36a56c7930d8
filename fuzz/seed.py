#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets from the repository, one file per input, into
OUT/<target>/ (default: fuzz/corpus/). Then minimize each with `cargo fuzz cmin <target>`
(see fuzz/README.md).

Sources: flows/*.yaml and the flows written in tests/*.rs (flow), every template string in
them (template), each flow step's expect:/save: with the response its snapshot recorded
(expect), the callback queries of tests/oauth.rs (callback), token-store profiles holding the
outputs the snapshots recorded (store, export). A few hand-written inputs cover what the
repository does not show (provider errors, encoded states, tricky export values).
"""

import hashlib
import json
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
STATE = "st4te-Fuzz_0"  # fuzz/src/oracles/callback.rs: STATE


def write(out, target, text):
    data = text.encode() if isinstance(text, str) else text
    folder = out / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


def rust_strings(source):
    """The string literals of a Rust file that hold a flow, unescaped, format! holes filled."""
    found = re.findall(r'r#"(.*?)"#', source, re.S)
    for literal in re.findall(r'"((?:[^"\\]|\\.)*)"', source, re.S):
        found.append(
            re.sub(r'\\(.)', lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), literal)
        )
    for text in found:
        if "steps:" in text:
            yield text.replace("{{", "\0").replace("}}", "\1").replace(
                "{}", "http://127.0.0.1:9"
            ).replace("\0", "{").replace("\1", "}")


def flows():
    """(name, text) of every flow in the repository."""
    for path in sorted((ROOT / "flows").glob("*.yaml")):
        yield path.stem, path.read_text()
    for path in sorted((ROOT / "tests").glob("*.rs")):
        for i, text in enumerate(rust_strings(path.read_text())):
            yield f"{path.stem}-{i}", text


def parsed(text):
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return doc if isinstance(doc, dict) else None


def strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def snapshot_steps(name):
    """step name -> (status, headers, body) from snapshots/<name>.snap."""
    path = ROOT / "snapshots" / f"{name}.snap"
    if not path.exists():
        return {}
    steps, current = {}, None
    for line in path.read_text().split("\n"):
        heading = re.match(r"== (\S+) \(", line)
        if heading:
            current = steps.setdefault(heading[1], {"status": None, "headers": [], "body": []})
        elif current is None:
            continue
        elif re.match(r"< \d{3}$", line):
            current["status"] = line[2:]
        elif line.startswith("< "):
            current["headers"].append(line[2:])
        elif line.startswith(("saved:", "outputs:", "==", "> ")):
            if line.startswith(("saved:", "outputs:")):
                current = None
        elif current["status"] is not None:
            current["body"].append(line)
    return {
        step: (v["status"], v["headers"], "\n".join(v["body"]).strip())
        for step, v in steps.items()
        if v["status"]
    }


def snapshot_outputs():
    """NAME -> value of every `outputs:` and `saved:` line in the snapshots."""
    values = {}
    for path in sorted((ROOT / "snapshots").glob("*.snap")):
        for match in re.finditer(r"^  ([A-Z_][A-Z0-9_]*) = (.*)$", path.read_text(), re.M):
            values.setdefault(match[1], match[2])
    return values


def main():
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "fuzz" / "corpus"
    responses = []
    for name, text in flows():
        write(out, "flow", text)
        doc = parsed(text)
        if not doc:
            continue
        for s in strings(doc):
            if "<<" in s or "<%" in s:
                write(out, "template", s)
        recorded = snapshot_steps(name)
        responses.extend(recorded.values())
        for step in doc.get("steps") or []:
            if not isinstance(step, dict):
                continue
            part = {k: step[k] for k in ("expect", "save") if k in step}
            if not part:
                continue
            status, headers, body = recorded.get(
                step.get("name"), ("200", ["content-type: application/json"], '{"id": "x1"}')
            )
            fragment = yaml.safe_dump(part, sort_keys=False, allow_unicode=True)
            write(out, "expect", f"{fragment}---\nHTTP/1.1 {status}\n" + "".join(
                h + "\n" for h in headers) + f"\n{body}")
    for status, headers, body in responses[:20]:
        step = "expect:\n  status: 2xx\n  json:\n    $.list[*].id: { exists: true }\nsave:\n  ID: $..id\n"
        write(out, "expect", f"{step}---\n{status}\n" + "".join(h + "\n" for h in headers) + f"\n{body}")
    for hand in [
        "<% for v in user.videos %><<v.title|upper>>,<% endfor %>",
        "<% set x = ids|length %><<x * n>>",
        "<<env('DM_API_KEY', 'none')|b64encode|b64decode>>",
        "<<now('unix') > 0 and uuid()|length == 36>>",
        "<<ACCESS_TOKEN is defined and MISSING is not defined>>",
        "<<user|tojson>> <<word|urlencode>> <<pi|round>>",
    ]:
        write(out, "template", hand)

    oauth = (ROOT / "tests" / "oauth.rs").read_text()
    queries = {
        q.replace("{}", STATE)
        for q in re.findall(r'callback\?([^"\s]*)', oauth)
        if "{" not in q.replace("{}", "")
    }
    queries |= {
        f"code=abc&state={STATE}",
        f"state={STATE}&error=access_denied&error_description=The+user+said+no",
        f"state=st4te%2DFuzz%5F0&code=a%20b+c",
        "code=abc",
        "state=wrong&code=abc",
        f"state={STATE}&state=other&code=",
        f"error=server_error&state={STATE}x",
    }
    for query in sorted(queries):
        write(out, "callback", query)

    outputs = snapshot_outputs()
    profile = {
        "version": 1,
        "profile": "fuzz",
        "values": {k: outputs[k] for k in sorted(outputs)[:8]},
        "endpoint": {
            "token_url": "https://api.dailymotion.com/oauth/token",
            "client_id": "5f1e0dmflowdemo0key0",
            "client_auth": "form",
            "sign_in": "dmflow run flows/login.yaml",
        },
        "updated_at": 1767225600,
        "obtained_at": 1767225600,
    }
    write(out, "store", json.dumps(profile, indent=2))
    profile["values"] = {"ACCESS_TOKEN": "a1", "EXPIRES_AT": "1767261600", "EXPIRES_IN": 36000}
    del profile["endpoint"]
    write(out, "store", json.dumps(profile))
    write(out, "store", '{"version": 2, "profile": "x", "values": {}, "updated_at": 0}')

    write(out, "export", json.dumps(outputs, ensure_ascii=False))
    write(out, "export", json.dumps({
        "ACCESS_TOKEN": "a'b c$HOME\\x`id`$(id)\n\r\tz",
        "COUNT": 3, "IDS": ["x1", "x2"], "NOTHING": None, "USER": {"id": "x7"},
        "CLIENT_SECRET": "line1\nline2\r\nDMFLOW_EOF\n",
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
