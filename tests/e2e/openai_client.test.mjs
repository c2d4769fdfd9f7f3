// capibara's OpenAI-compatible API through the official `openai` npm client, against a live
// server on 127.0.0.1 serving ../shared/models/stories260K.gguf.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';

const bin = process.env.CAPIBARA_BIN;
const shared = process.env.CAPIBARA_SHARED ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared');
const modelPath = path.join(shared, 'models', 'stories260K.gguf');
const skip = !bin ? 'CAPIBARA_BIN is not set (run through ctest)'
  : !existsSync(modelPath) ? `shared test data not found at ${shared}` : false;

let server;
let client;
let baseURL;
const apiKey = 'e2e-secret';

before(async () => {
  if (skip) return;
  server = spawn(bin, ['serve', '-m', modelPath, '--alias', 'stories', '--port', '0',
    '--api-key', apiKey, '--parallel', '4', '--threads', '2'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const port = await new Promise((resolve, reject) => {
    let err = '';
    server.stderr.on('data', (d) => {
      err += d;
      const m = err.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) resolve(Number(m[1]));
    });
    server.on('exit', (code) => reject(new Error(`server exited with ${code}: ${err}`)));
    setTimeout(() => reject(new Error(`server did not start: ${err}`)), 20000).unref();
  });
  baseURL = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    const r = await fetch(`${baseURL}/health`);
    if (r.status === 200) break;
    assert.equal(r.status, 503);
    await new Promise((res) => setTimeout(res, 50));
  }
  client = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey, maxRetries: 0 });
});

after(async () => {
  if (!server) return;
  const exited = new Promise((resolve) => server.on('exit', (code, signal) => resolve({ code, signal })));
  server.kill('SIGTERM');
  // SIGTERM is a clean shutdown: exit code 0 (and, in sanitizer builds, no leak report).
  assert.deepEqual(await exited, { code: 0, signal: null });
});

test('lists the model', { skip }, async () => {
  const models = await client.models.list();
  const ids = [];
  for await (const m of models) ids.push(m.id);
  assert.deepEqual(ids, ['stories']);
  const one = await client.models.retrieve('stories');
  assert.equal(one.object, 'model');
});

test('greedy text completion equals llama.cpp', { skip }, async () => {
  const r = await client.completions.create({
    model: 'stories', prompt: 'Once upon a time', max_tokens: 24, temperature: 0,
  });
  assert.equal(r.choices[0].text, ', there was a little girl named Lily. She loved to play outside in the p');
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.prompt_tokens, 5);
  assert.equal(r.usage.completion_tokens, 24);
  assert.equal(r.usage.total_tokens, 29);
});

test('chat completion, whole response', { skip }, async () => {
  const r = await client.chat.completions.create({
    model: 'stories', max_tokens: 20, temperature: 0.7, seed: 3,
    messages: [{ role: 'system', content: 'Tell a story.' }, { role: 'user', content: 'A cat' }],
  });
  assert.equal(r.object, 'chat.completion');
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.model, 'stories');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  assert.ok(r.usage.prompt_tokens > 0);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  assert.ok(r.system_fingerprint.startsWith('capibara-'));
});

test('streaming chat: role first, tokens, finish reason, usage', { skip }, async () => {
  const stream = await client.chat.completions.create({
    model: 'stories', max_tokens: 16, temperature: 0, stream: true,
    stream_options: { include_usage: true },
    messages: [{ role: 'user', content: [{ type: 'text', text: 'Once upon a time' }] }],
  });
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  const finish = chunks.filter((c) => c.choices.length && c.choices[0].finish_reason);
  assert.equal(finish.length, 1);
  assert.equal(finish[0].choices[0].finish_reason, 'length');
  const text = chunks.filter((c) => c.choices.length).map((c) => c.choices[0].delta.content ?? '').join('');
  assert.ok(text.length > 0);
  const content = chunks.filter((c) => c.choices.length && c.choices[0].delta.content);
  assert.ok(content.length >= 8, `expected one chunk per token, got ${content.length}`);
  const usage = chunks.at(-1);
  assert.equal(usage.choices.length, 0);
  assert.equal(usage.usage.completion_tokens, 16);
});

test('stop strings and n choices with a seed', { skip }, async () => {
  const r = await client.completions.create({
    model: 'stories', prompt: 'Once upon a time', max_tokens: 24, temperature: 0, stop: ['Lily'],
  });
  assert.equal(r.choices[0].text, ', there was a little girl named ');
  assert.equal(r.choices[0].finish_reason, 'stop');
  const a = await client.completions.create({ model: 'stories', prompt: 'Tim', max_tokens: 12, n: 2, seed: 9, temperature: 1 });
  const b = await client.completions.create({ model: 'stories', prompt: 'Tim', max_tokens: 12, n: 2, seed: 9, temperature: 1 });
  assert.equal(a.choices.length, 2);
  assert.deepEqual(a.choices.map((c) => c.text), b.choices.map((c) => c.text));
});

test('log-probabilities of the chosen and top tokens', { skip }, async () => {
  const r = await client.chat.completions.create({
    model: 'stories', max_tokens: 4, temperature: 0, logprobs: true, top_logprobs: 3,
    messages: [{ role: 'user', content: 'Hi' }],
  });
  const lp = r.choices[0].logprobs.content;
  assert.equal(lp.length, 4);
  for (const t of lp) {
    assert.ok(t.logprob <= 0);
    assert.equal(t.top_logprobs.length, 3);
    assert.equal(t.top_logprobs[0].logprob, t.logprob);  // greedy picks the most likely
  }
});

test('concurrent streams all complete', { skip }, async () => {
  const prompts = ['The dog', 'A girl', 'Tom and Sam', 'The sun'];
  const texts = await Promise.all(prompts.map(async (p) => {
    const s = await client.completions.create({ model: 'stories', prompt: p, max_tokens: 20, temperature: 0, stream: true });
    let t = '';
    for await (const c of s) t += c.choices[0]?.text ?? '';
    return t;
  }));
  // Each equals the same request made alone.
  for (let i = 0; i < prompts.length; i++) {
    const alone = await client.completions.create({ model: 'stories', prompt: prompts[i], max_tokens: 20, temperature: 0 });
    assert.equal(texts[i], alone.choices[0].text);
  }
});

test('an abandoned stream does not break the server', { skip }, async () => {
  const controller = new AbortController();
  const s = await client.completions.create(
    { model: 'stories', prompt: 'Once', max_tokens: 500, temperature: 0, stream: true },
    { signal: controller.signal });
  let n = 0;
  try {
    for await (const c of s) { if (++n === 3) controller.abort(); }
  } catch (e) { assert.ok(e.name.includes('Abort') || e.message.includes('abort')); }
  const r = await client.completions.create({ model: 'stories', prompt: 'Once', max_tokens: 3, temperature: 0 });
  assert.equal(r.choices[0].finish_reason, 'length');
});

test('errors come back as OpenAI errors with the right status', { skip }, async () => {
  // Each status surfaces as the SDK's typed error class, as with api.openai.com.
  await assert.rejects(
    client.chat.completions.create({ model: 'stories', temperature: 5, messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'temperature'
      && e.type === 'invalid_request_error');
  await assert.rejects(
    client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404 && e.code === 'model_not_found');
  await assert.rejects(
    client.chat.completions.create({ model: 'stories', messages: [] }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'messages');
  await assert.rejects(
    client.chat.completions.create({ model: 'stories', response_format: { type: 'json_object' }, messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'response_format');
  // An unknown model id: the message lists the models there are.
  await assert.rejects(client.models.retrieve('nope'),
    (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found' && /available: .*stories/.test(e.message));
  const wrongKey = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: 'wrong', maxRetries: 0 });
  await assert.rejects(wrongKey.models.list(),
    (e) => e instanceof OpenAI.AuthenticationError && e.status === 401 && e.type === 'authentication_error');
  // No Authorization header at all (a null default header removes the SDK's).
  const noKey = new OpenAI({
    baseURL: `${baseURL}/v1`, apiKey: 'unused', maxRetries: 0, defaultHeaders: { Authorization: null },
  });
  await assert.rejects(noKey.completions.create({ model: 'stories', prompt: 'x', max_tokens: 2 }),
    (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
  await assert.rejects(
    client.completions.create({ model: 'stories', prompt: 'x '.repeat(3000), max_tokens: 4 }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.code === 'context_length_exceeded');
  // Every class above is an APIError (what generic handlers catch).
  await assert.rejects(client.models.retrieve('nope'), (e) => e instanceof OpenAI.APIError);
});

test('health, stats and metrics', { skip }, async () => {
  assert.deepEqual(await (await fetch(`${baseURL}/health`)).json(), { status: 'ok' });
  const stats = await (await fetch(`${baseURL}/stats`, { headers: { Authorization: `Bearer ${apiKey}` } })).json();
  const m = stats.models[0];
  assert.equal(m.id, 'stories');
  assert.equal(m.loaded, true);
  assert.ok(m.tokens.generated > 0);
  assert.ok(m.time_to_first_token.count > 0);
  assert.ok(m.time_to_first_token.p95_ms >= m.time_to_first_token.p50_ms);
  assert.ok(stats.process.rss_bytes > 0);
  assert.ok(stats.system.memory_total_bytes > 0);
  const metrics = await (await fetch(`${baseURL}/metrics`)).text();
  assert.match(metrics, /# TYPE capibara_time_to_first_token_seconds histogram/);
  assert.match(metrics, /capibara_time_to_first_token_seconds_bucket\{model="stories",le="\+Inf"\} \d+/);
  assert.match(metrics, /capibara_generation_tokens_total\{model="stories"\} \d+/);
});
