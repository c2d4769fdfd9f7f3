#!/usr/bin/env node
// capibara bench against llama.cpp's llama-bench on the same GGUF files, same CPU, same
// threads, so that the yardstick is measured on the machine at hand (docs/PERFORMANCE.md,
// "llama.cpp on the same host").
//
// Why alternate: on a shared host the memory bandwidth moves by tens of percent from minute to
// minute, so runs of one program and then the other would compare two machines. Each round runs
// both programs back to back, the order flipping from round to round (A B, B A, ...), and the
// table gives every round's figures next to their mean. The bound is the best read pass of
// capibara's runs; capibara's fraction "beside its runs" sets each of its runs against the read
// passes made just before and after it instead (`capibara bench --roofline`), which llama-bench
// cannot report, and the last column gives the range of the cache line round trips beside its
// runs (where the system had placed the threads).
//
// Usage: node scripts/compare_llama_cpp.mjs --llama-bench PATH [--capibara PATH]
//          [-p 512] [-n 128] [-d 0] [-t 2] [-r 5] [--rounds 2] [--llama-flash-attn on|off|auto]
//          MODEL.gguf...
// -d starts every test that many tokens deep in a context (llama-bench's depth), where attention
// weighs; --llama-flash-attn (llama-bench's -fa) picks llama.cpp's attention path, whose speed at
// depth depends on it. Each is passed to llama-bench only when given (older builds have neither).
// llama-bench is not built by this project: see PERFORMANCE.md for how the figures there were
// obtained.
import {execFileSync} from "node:child_process";
import {existsSync} from "node:fs";
import {parseArgs} from "node:util";

const usage =
  "usage: compare_llama_cpp.mjs --llama-bench PATH [--capibara PATH] [-p N] [-n N] [-d N] " +
  "[-t N] [-r N] [--rounds N] [--llama-flash-attn on|off|auto] MODEL.gguf...";

function fail(message) {
  console.error(`compare_llama_cpp: ${message}\n${usage}`);
  process.exit(2);
}

function positiveInt(name, text, allowZero = false) {
  const value = Number(text);
  if (!Number.isInteger(value) || value < (allowZero ? 0 : 1)) {
    fail(`${name} must be a ${allowZero ? "non-negative" : "positive"} integer, got '${text}'`);
  }
  return value;
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      "llama-bench": {type: "string"},
      capibara: {type: "string", default: "build/capibara"},
      "n-prompt": {type: "string", short: "p", default: "512"},
      "n-gen": {type: "string", short: "n", default: "128"},
      "n-depth": {type: "string", short: "d", default: "0"},
      "llama-flash-attn": {type: "string"},
      threads: {type: "string", short: "t", default: "2"},
      repetitions: {type: "string", short: "r", default: "5"},
      rounds: {type: "string", default: "2"},
    },
  });
} catch (error) {
  fail(error.message);
}
const opts = parsed.values;
const models = parsed.positionals;
if (!opts["llama-bench"]) fail("--llama-bench is required");
if (models.length === 0) fail("no model given");
for (const path of [opts["llama-bench"], opts.capibara, ...models]) {
  if (!existsSync(path)) fail(`no such file: ${path}`);
}
const nPrompt = positiveInt("-p", opts["n-prompt"], true);
const nGen = positiveInt("-n", opts["n-gen"], true);
const nDepth = positiveInt("-d", opts["n-depth"], true);
const flashAttn = opts["llama-flash-attn"];
if (flashAttn !== undefined && !["on", "off", "auto"].includes(flashAttn)) {
  fail(`--llama-flash-attn must be on, off or auto, got '${flashAttn}'`);
}
if (nPrompt === 0 && nGen === 0) fail("-p and -n are both 0: nothing to measure");
const threads = positiveInt("-t", opts.threads);
const reps = positiveInt("-r", opts.repetitions);
const rounds = positiveInt("--rounds", opts.rounds);

// A failed run ends the comparison with the program's own error output: a table with a hole
// would hide which figure is missing.
function runJson(program, args) {
  let output;
  try {
    output = execFileSync(program, args, {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      maxBuffer: 64 << 20,
    });
  } catch (error) {
    const stderr = `${error.stderr ?? ""}`.trim().split("\n").slice(-5).join("\n");
    const how = error.status != null ? `exit status ${error.status}` : error.message;
    console.error(`compare_llama_cpp: ${program} ${args.join(" ")} failed (${how})\n${stderr}`);
    process.exit(1);
  }
  try {
    return JSON.parse(output);
  } catch (error) {
    console.error(`compare_llama_cpp: ${program} printed no JSON: ${error.message}`);
    process.exit(1);
  }
}

// Both programs' results as {test: {tps, sd, bound?}}; tests are named like llama-bench's.
function runLlamaBench(model) {
  const args = ["-m", model, "-p", `${nPrompt}`, "-n", `${nGen}`, "-t", `${threads}`];
  if (nDepth > 0) args.push("-d", `${nDepth}`);
  if (flashAttn !== undefined) args.push("-fa", flashAttn);
  const results = runJson(opts["llama-bench"], [...args, "-r", `${reps}`, "-o", "json"]);
  const byTest = {};
  for (const r of results) {
    // Named as capibara bench names them: "pp512", or "pp512 @ d2048" deep in a context.
    const depth = r.n_depth > 0 ? ` @ d${r.n_depth}` : "";
    const test = (r.n_prompt > 0 ? `pp${r.n_prompt}` : `tg${r.n_gen}`) + depth;
    byTest[test] = {tps: r.avg_ts, sd: r.stddev_ts, build: r.build_commit};
  }
  return byTest;
}

function runCapibara(model) {
  const args = ["bench", "-m", model, "-p", `${nPrompt}`, "-n", `${nGen}`, "-d", `${nDepth}`];
  args.push("-t", `${threads}`);
  const report = runJson(opts.capibara, [...args, "-r", `${reps}`, "--roofline", "--json"]);
  const byTest = {};
  for (const r of report.results) {
    byTest[r.test] = {
      tps: r.tokens_per_s,
      sd: r.stddev,
      bound: r.bound_tokens_per_s,
      besideRuns: r.fraction_of_bound_beside_runs,
      // null where no other thread joined in time; absent with one thread.
      roundTrips: r.line_round_trip_ns_beside_runs ?? [],
    };
  }
  return {byTest, isa: report.isa, modelType: report.model_type};
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const fixed = (x, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : "n/a");
const percent = (x) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)} %` : "n/a");
// Where capibara's threads sat during its runs (`bench --roofline`'s line round trip).
const nsRange = (xs) =>
  xs.length === 0 ? "n/a" : `${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)} ns`;

const rows = [];
for (const model of models) {
  const capibara = [];
  const llama = [];
  let info = {};
  for (let round = 0; round < rounds; ++round) {
    const order = round % 2 === 0 ? ["llama", "capibara"] : ["capibara", "llama"];
    for (const who of order) {
      const started = new Date().toISOString().slice(0, 19) + "Z";
      if (who === "llama") {
        llama.push(runLlamaBench(model));
      } else {
        const run = runCapibara(model);
        info = run;
        capibara.push(run.byTest);
      }
      console.error(`${started} ${model} round ${round + 1}: ${who} done`);
    }
  }
  for (const test of Object.keys(capibara[0])) {
    const ours = capibara.map((r) => r[test].tps);
    const theirs = llama.map((r) => r[test]?.tps ?? NaN);
    const bound = mean(capibara.map((r) => r[test].bound));
    rows.push({
      model: info.modelType,
      isa: info.isa,
      test,
      ours,
      theirs,
      build: llama[0][test]?.build ?? "?",
      ratio: mean(ours) / mean(theirs),
      oursOfBound: mean(ours) / bound,
      oursBesideRuns: mean(capibara.map((r) => r[test].besideRuns)),
      roundTrips: capibara.flatMap((r) => r[test].roundTrips).filter(Number.isFinite),
      theirsOfBound: mean(theirs) / bound,
      bound,
    });
  }
}

console.log(
  `threads ${threads}, ${reps} repetitions per run, ${rounds} rounds (order alternating), ` +
    `llama-bench -fa ${flashAttn ?? "(its default)"}\n`,
);
console.log(
  "| model | test | capibara tok/s (rounds) | llama.cpp tok/s (rounds) | ratio | " +
    "capibara of bound | llama.cpp of bound | bound tok/s | capibara of bound beside its runs | " +
    "line round trip beside capibara's runs |",
);
console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const r of rows) {
  console.log(
    `| ${r.model} (${r.isa}; llama.cpp ${r.build}) | ${r.test} | ` +
      `**${fixed(mean(r.ours))}** (${r.ours.map((x) => fixed(x, 1)).join(", ")}) | ` +
      `${fixed(mean(r.theirs))} (${r.theirs.map((x) => fixed(x, 1)).join(", ")}) | ` +
      `**${fixed(r.ratio)}×** | ${percent(r.oursOfBound)} | ${percent(r.theirsOfBound)} | ` +
      `${fixed(r.bound, 1)} | ${percent(r.oursBesideRuns)} | ${nsRange(r.roundTrips)} |`,
  );
}
