// bench/peers/ajv_validate.mjs — ajv's side of bench/schema.sh.
//
//   node bench/peers/ajv_validate.mjs EVENTS.ndjson SCHEMA_DIR [PASSES] [INVALID_OUT]
//
// The same events and schemas as bench/schema_bench.c: SCHEMA_DIR/TYPE.json
// compiled once each by ajv (draft 2020-12, strict mode, ajv-formats for
// `uri` and the other formats of engram's subset).  Two timed loops, each
// one warm-up pass then PASSES timed ones:
//   preparsed: every line JSON.parse'd before the clock starts; the loop is
//              validate(event.data) only (ajv needs objects, not text);
//   parse:     JSON.parse of the whole line, then validate(event.data) —
//              what validating text costs ajv, as engram's loop does.
// Prints one JSON object (count, invalid, invalid_hash as schema_bench's
// FNV-1a 64, then each loop's seconds, median and objects/s); INVALID_OUT
// gets the invalid line numbers, one a line.
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const Ajv2020 = require("ajv/dist/2020").default;
const addFormats = require("ajv-formats");
const ajvVersion = require("ajv/package.json").version;

const [file, dir, passesArg, invalidOut] = process.argv.slice(2);
if (!file || !dir) {
	console.error("usage: ajv_validate.mjs EVENTS.ndjson SCHEMA_DIR [PASSES] [INVALID_OUT]");
	process.exit(1);
}
const passes = Number(passesArg || 5);
// multipleOfPrecision: ajv divides in doubles (19.99 / 0.01 is
// 1998.9999999999998, "not a multiple"); engram's multipleOf is exact.
// With 9 ajv accepts a quotient within 1e-9 of an integer.
const ajv = new Ajv2020({ strict: true, allErrors: false, multipleOfPrecision: 9 });
addFormats(ajv, ["date-time", "date", "email", "uuid", "uri"]);

const lines = readFileSync(file, "utf8").split("\n");
if (lines[lines.length - 1] === "") lines.pop();
const validators = new Map();
function validatorOf(type) {
	let v = validators.get(type);
	if (!v) {
		v = ajv.compile(JSON.parse(readFileSync(`${dir}/${type}.json`, "utf8")));
		validators.set(type, v);
	}
	return v;
}
const events = lines.map((l) => JSON.parse(l));
const fns = events.map((e) => validatorOf(e.type));
const n = events.length;
const bad = new Uint8Array(n);

function preparsed() {
	let inv = 0;
	for (let i = 0; i < n; i++) {
		const ok = fns[i](events[i].data);
		bad[i] = ok ? 0 : 1;
		inv += bad[i];
	}
	return inv;
}
function parse() {
	let inv = 0;
	for (let i = 0; i < n; i++) {
		const e = JSON.parse(lines[i]);
		const ok = validators.get(e.type)(e.data);
		bad[i] = ok ? 0 : 1;
		inv += bad[i];
	}
	return inv;
}
function timeLoop(fn) {
	let invalid = fn();   // warm-up (JIT)
	const s = [];
	for (let r = 0; r < passes; r++) {
		const t0 = process.hrtime.bigint();
		const inv = fn();
		s.push(Number(process.hrtime.bigint() - t0) / 1e9);
		if (inv !== invalid) throw new Error(`pass ${r + 1}: ${inv} invalid, the pass before ${invalid}`);
		invalid = inv;
	}
	const med = [...s].sort((a, b) => a - b)[(passes - 1) >> 1];
	return { invalid, s: s.map((x) => +x.toFixed(4)), median_s: +med.toFixed(4), objects_per_s: Math.round(n / med) };
}
const p = timeLoop(preparsed);
const q = timeLoop(parse);
if (p.invalid !== q.invalid) throw new Error(`preparsed ${p.invalid} invalid, parse ${q.invalid}`);

let h = 0xcbf29ce484222325n;
const out = [];
for (let i = 0; i < n; i++) {
	if (!bad[i]) continue;
	let ln = BigInt(i + 1);
	for (let b = 0; b < 8; b++) {
		h ^= (ln >> BigInt(8 * b)) & 0xffn;
		h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
	}
	out.push(i + 1);
}
if (invalidOut) writeFileSync(invalidOut, out.map((x) => x + "\n").join(""));
console.log(JSON.stringify({
	side: "ajv", ajv: ajvVersion, node: process.version, count: n, invalid: p.invalid,
	invalid_hash: h.toString(16).padStart(16, "0"),
	preparsed: { s: p.s, median_s: p.median_s, objects_per_s: p.objects_per_s },
	parse: { s: q.s, median_s: q.median_s, objects_per_s: q.objects_per_s },
}));
