"""Drives a running rollama server with the official `ollama` Python client.

Usage: python3 ollama_client.py BASE_URL MODEL.gguf
Exits non-zero (with the failing step) if any call fails or answers the wrong shape.
"""
import sys

import ollama

base, gguf = sys.argv[1], sys.argv[2]
client = ollama.Client(host=base)


def step(name):
    print(f"-- {name}", flush=True)


step("create_blob + create")
digest = client.create_blob(gguf)
assert digest.startswith("sha256:"), digest
statuses = [p.status for p in client.create(model="pysmol", files={"model.gguf": digest}, stream=True)]
assert statuses[-1] == "success", statuses

step("list")
names = [m.model for m in client.list().models]
assert "pysmol:latest" in names, names

step("show")
info = client.show("pysmol")
assert "<|im_start|>" in info.template, info.template
assert info.details.family == "llama", info.details
assert info.modelinfo["general.architecture"] == "llama"

step("generate")
r = client.generate(model="pysmol", prompt="The capital of France is", raw=True,
                    options={"temperature": 0, "num_predict": 8})
assert r.done and r.response.startswith(" Paris"), r
assert r.eval_count == 8 and r.total_duration > 0, r
chunks = list(client.generate(model="pysmol", prompt="The capital of France is", raw=True,
                              options={"temperature": 0, "num_predict": 8}, stream=True))
assert "".join(c.response for c in chunks) == r.response and chunks[-1].done

step("chat")
c = client.chat(model="pysmol", messages=[{"role": "user", "content": "Say hi."}],
                options={"temperature": 0, "num_predict": 12})
assert c.message.role == "assistant" and c.message.content, c
parts = list(client.chat(model="pysmol", messages=[{"role": "user", "content": "Say hi."}],
                         options={"temperature": 0, "num_predict": 12}, stream=True))
assert "".join(p.message.content for p in parts) == c.message.content

step("copy")
client.copy("pysmol", "pysmol-copy")
assert "pysmol-copy:latest" in [m.model for m in client.list().models]

step("embeddings")
e = client.embeddings(model="pysmol", prompt="Hello world")
assert len(e.embedding) == 576, len(e.embedding)
em = client.embed(model="pysmol", input=["Hello world", "Goodbye"])
assert len(em.embeddings) == 2 and len(em.embeddings[0]) == 576
norm = sum(x * x for x in em.embeddings[0]) ** 0.5
assert abs(norm - 1.0) < 1e-3, norm

step("ps")
assert any(m.model == "pysmol:latest" for m in client.ps().models)

step("delete")
client.delete("pysmol-copy")
assert "pysmol-copy:latest" not in [m.model for m in client.list().models]
try:
    client.delete("pysmol-copy")
    raise AssertionError("deleting a missing model must fail")
except ollama.ResponseError as err:
    assert err.status_code == 404, err

step("errors")
try:
    client.generate(model="no-such-model", prompt="hi")
    raise AssertionError("an unknown model must fail")
except ollama.ResponseError as err:
    assert err.status_code == 404 and "not found" in err.error, err

print("ok")
