#!/usr/bin/env python3
"""Writes conversations.json: the real templates of ../shared/templates rendered by Python Jinja2
for conversations the shared golden file does not cover (tools, tool calls and results, thinking,
multimodal content, odd argument values), as the expectations of `conversations_test.cpp`.

Jinja2 is configured as Hugging Face transformers configures it (ImmutableSandboxedEnvironment,
trim_blocks, lstrip_blocks, loop controls, its own tojson, raise_exception, strftime_now), except
where capibara deliberately renders what Hugging Face refuses: `list.append`/`pop` (the immutable
sandbox forbids them; Kimi's templates need them for tool calls) and a `from_json` filter
(DeepSeek V3.2/V4 parse string arguments with it). Cases that Python cannot render at all are
left out. Usage: python3 make_conversations.py /path/to/shared/templates > conversations.json
"""
import datetime
import glob
import json
import os
import sys

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city, in \"celsius\" or fahrenheit.",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name, e.g. Zürich"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
            "days": {"type": "integer", "description": "Forecast days", "minimum": 1},
            "tags": {"type": "array", "items": {"type": "string"}},
            "precise": {"type": "boolean"},
            "ratio": {"type": "number"},
            "opts": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}},
            "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "search", "description": "Search the web",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}},
                       "required": ["query"]}}},
]

SCENARIOS = {
    "tool_call": {
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {
                    "name": "get_weather",
                    "arguments": {"city": "Paris", "days": 2, "tags": ["a", "b"], "ratio": 0.5}}}]},
            {"role": "tool", "content": "{\"temp\": 21.5, \"sky\": \"sunny ☀\"}",
             "tool_call_id": "call_1", "name": "get_weather"},
            {"role": "assistant", "content": "It is 21.5 °C and sunny."},
            {"role": "user", "content": "Thanks!  "}],
        "extra": {"tools": TOOLS}},
    "odd_arguments": {
        "messages": [
            {"role": "system", "content": "  sys with spaces  \n"},
            {"role": "user", "content": "go", "name": "bob"},
            {"role": "assistant", "content": "Calling.", "tool_calls": [
                {"id": "c9", "type": "function", "function": {"name": "search", "arguments": {
                    "query": "naïve \"quote\" \\ back", "n": 1e-7, "big": 1e20, "f": 3.0,
                    "neg": -2, "ok": True, "no": None, "nested": {"a": [1, {"b": "c"}]},
                    "empty": {}, "el": []}}}]},
            {"role": "tool", "content": [{"type": "text", "text": "result text"}],
             "tool_call_id": "c9"},
            {"role": "user", "content": "again 🦫\ttab"}],
        "extra": {"tools": TOOLS, "tools_in_user_message": False, "date_string": "01 Jan 2025"}},
    "thinking": {
        "messages": [
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "<think>\nadd them\n</think>\n\n4",
             "reasoning_content": "add them"},
            {"role": "user", "content": "and 3+3?"}],
        "extra": {"enable_thinking": True}},
    "multimodal": {
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is in this image?"}, {"type": "image"},
            {"type": "text", "text": "Be brief."}]}],
        "extra": {}},
}


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def environment(sandboxed):
    cls = ImmutableSandboxedEnvironment if sandboxed else jinja2.Environment
    env = cls(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.date(2026, 11, 24).strftime(fmt)
    if not sandboxed:
        env.filters["from_json"] = json.loads
    return env


def main():
    folder = sys.argv[1]
    hf, relaxed = environment(True), environment(False)
    cases = []
    for path in sorted(glob.glob(os.path.join(folder, "*.jinja"))):
        source = open(path, encoding="utf-8").read()
        for name, scenario in SCENARIOS.items():
            case = {"template": os.path.basename(path), "scenario": name}
            for env in (hf, relaxed):
                try:
                    case["expected"] = env.from_string(source).render(
                        messages=scenario["messages"], add_generation_prompt=True,
                        bos_token="<s>", eos_token="</s>", **scenario["extra"])
                    case.pop("expected_error", None)
                    break
                except jinja2.exceptions.TemplateError as e:  # the template's own errors
                    case["expected_error"] = f"{type(e).__name__}: {e}"
                    if type(e).__name__ != "SecurityError" and "from_json" not in str(e):
                        break
                except Exception:  # Python cannot render it (e.g. tojson of a generator)
                    case = None
                    break
            if case is not None:
                cases.append(case)
    json.dump({"generator": "make_conversations.py (Jinja2 %s)" % jinja2.__version__,
               "bos_token": "<s>", "eos_token": "</s>", "add_generation_prompt": True,
               "strftime_date": "2026-11-24", "scenarios": SCENARIOS, "cases": cases},
              sys.stdout, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
