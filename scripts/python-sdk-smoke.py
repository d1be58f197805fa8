#!/usr/bin/env python3
"""Drives a running PRISM Gateway with the official Python `openai` SDK, changing only the base URL.

Usage: python-sdk-smoke.py BASE_URL [MODEL]     e.g. http://127.0.0.1:8080/v1 prism
Checks chat (non-stream), chat streaming with include_usage, embeddings (float and the SDK's base64
default), models list/retrieve, and that bad input raises openai.BadRequestError (never a 5xx).
Prints one JSON summary line; exits non-zero on the first failed check.
"""
import json
import sys

import openai


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def main() -> int:
    base_url = sys.argv[1]
    model = sys.argv[2] if len(sys.argv) > 2 else "prism"
    client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=120)
    summary = {"python_openai": openai.__version__}

    chat = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Say hello."}], max_tokens=4, temperature=0
    )
    check(chat.object == "chat.completion", f"object {chat.object}")
    check(chat.choices[0].message.role == "assistant", "role")
    check(chat.choices[0].finish_reason in ("stop", "length"), f"finish_reason {chat.choices[0].finish_reason}")
    check(chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens, "usage sum")
    summary["chat"] = {"finish_reason": chat.choices[0].finish_reason, "usage": chat.usage.model_dump()}

    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Count to five."}],
        max_tokens=5,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    check(chunks[0].choices[0].delta.role == "assistant", "first delta carries the role")
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    check(finishes == ["length"], f"one finish_reason=length, got {finishes}")
    check(chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 5, "usage chunk last")
    check(all(c.usage is None for c in chunks[:-1]), "usage null before the usage chunk")
    summary["stream"] = {"chunks": len(chunks), "usage": chunks[-1].usage.model_dump()}

    floats = client.embeddings.create(model=model, input=["hello", "world"], encoding_format="float")
    check(len(floats.data) == 2 and len(floats.data[0].embedding) > 0, "two float embeddings")
    decoded = client.embeddings.create(model=model, input="hello")  # SDK asks for base64 and decodes it
    check(abs(decoded.data[0].embedding[0] - floats.data[0].embedding[0]) < 1e-5, "base64 decodes to the floats")
    summary["embeddings"] = {"width": len(floats.data[0].embedding)}

    ids = [m.id for m in client.models.list().data]
    check(model in ids and f"{model}:base" in ids, f"models {ids}")
    check(client.models.retrieve(f"{model}:base").owned_by == "prism", "retrieve")
    summary["models"] = ids

    try:
        client.chat.completions.create(model=model, messages=[], max_tokens=1)
        raise AssertionError("empty messages were accepted")
    except openai.BadRequestError as error:
        check(error.status_code == 400, f"status {error.status_code}")
        body = error.body if isinstance(error.body, dict) else {}
        check(body.get("param") == "messages", f"param {body.get('param')}")
        summary["bad_request"] = {"status": error.status_code, "param": body.get("param")}
    try:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
        raise AssertionError("an unknown model was accepted")
    except openai.NotFoundError as error:
        summary["not_found"] = {"status": error.status_code, "code": error.code}

    print(json.dumps({"ok": True, **summary}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AssertionError as failure:
        print(json.dumps({"ok": False, "failed": str(failure)}))
        sys.exit(1)
