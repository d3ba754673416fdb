#!/usr/bin/env node
// Driver for the browser side of the gomoq e2e interop suite.
//
//   node e2e/run.mjs < job.json
//
// job.json: {"jobs":[{"id":"a","fn":"publish","opts":{...},"delayMs":0}, ...], "timeoutMs":60000}
//
// Bundles page.js with esbuild, serves a blank page plus the bundle from 127.0.0.1 (a secure
// context, which WebTransport needs), launches Debian's /usr/bin/chromium through
// playwright-core, runs every job in its own page concurrently, and prints exactly one JSON
// line on stdout:
//
//   {"results":{"a":{...}},"console":{"a":["..."]},"driver":{...}}
//
// Console messages and page errors go to stderr as they happen, prefixed with the job id.
// Exit status is non-zero only when the driver itself fails (bad input, bundling, browser
// launch); test outcomes are reported in the JSON for the Go side to assert on.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { launch } from "./chromium.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const FNS = new Set(["publish", "consume", "announced", "connect"]);
const CHROMIUM = process.env.GOMOQ_E2E_CHROMIUM || "/usr/bin/chromium";
const CHROMIUM_ARGS = [
	"--headless",
	"--no-sandbox",
	"--disable-gpu",
	"--no-first-run",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync",
];

function log(line) {
	process.stderr.write(`${line}\n`);
}

async function readStdin() {
	const chunks = [];
	for await (const chunk of process.stdin) chunks.push(chunk);
	return Buffer.concat(chunks).toString("utf8");
}

function parseJobs(text) {
	let input;
	try {
		input = JSON.parse(text);
	} catch (err) {
		throw new Error(`stdin is not JSON: ${err.message}`);
	}
	const jobs = input?.jobs;
	if (!Array.isArray(jobs) || jobs.length === 0) throw new Error("input needs a non-empty jobs array");
	const ids = new Set();
	for (const job of jobs) {
		if (typeof job?.id !== "string" || job.id === "") throw new Error("every job needs a string id");
		if (ids.has(job.id)) throw new Error(`duplicate job id ${job.id}`);
		ids.add(job.id);
		if (!FNS.has(job.fn)) throw new Error(`job ${job.id}: unknown fn ${job.fn}; want one of ${[...FNS].join(", ")}`);
	}
	return { jobs, timeoutMs: input.timeoutMs ?? 60000 };
}

// Bundle page.js into dist/page.bundle.js (gitignored). Always rebuilt: it takes ~50 ms.
async function bundle() {
	const esbuild = await import("esbuild").catch((err) => {
		throw new Error(`cannot load esbuild (run \`npm ci\` in ${here}): ${err.message}`);
	});
	const outfile = join(here, "dist", "page.bundle.js");
	await esbuild.build({
		entryPoints: [join(here, "page.js")],
		bundle: true,
		format: "esm",
		target: "chrome120",
		outfile,
		sourcemap: "inline",
		logLevel: "warning",
		absWorkingDir: here,
	});
	return outfile;
}

const HTML = `<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>gomoq e2e</title></head>
<body><script type="module" src="/page.bundle.js"></script></body></html>
`;

function serve(bundlePath) {
	const js = readFileSync(bundlePath);
	const server = http.createServer((req, res) => {
		const path = new URL(req.url, "http://127.0.0.1").pathname;
		if (path === "/" || path === "/index.html") {
			res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
			res.end(HTML);
		} else if (path === "/page.bundle.js") {
			res.writeHead(200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-store" });
			res.end(js);
		} else {
			res.writeHead(404, { "content-type": "text/plain" });
			res.end("not found\n");
		}
	});
	return new Promise((resolve, reject) => {
		server.once("error", reject);
		server.listen(0, "127.0.0.1", () => resolve(server));
	});
}

function consoleText(msg) {
	const loc = msg.location?.();
	const where = loc?.url && !loc.url.endsWith("/page.bundle.js") ? ` (${loc.url}:${loc.lineNumber})` : "";
	return `${msg.type()}: ${msg.text()}${where}`;
}

async function runJob(context, origin, job, sink, deadline) {
	const page = await context.newPage();
	const lines = [];
	sink[job.id] = lines;
	const record = (line) => {
		lines.push(line);
		log(`[${job.id}] ${line}`);
	};
	page.on("console", (msg) => record(consoleText(msg)));
	page.on("pageerror", (err) => record(`pageerror: ${err?.stack || err}`));
	page.on("crash", () => record("crash: page crashed"));
	try {
		await page.goto(`${origin}/`, { waitUntil: "load" });
		await page.waitForFunction(() => window.moqReady === true, null, { timeout: 15000 });
		if (job.delayMs) await new Promise((resolve) => setTimeout(resolve, job.delayMs));
		const started = Date.now();
		const evaluation = page.evaluate(({ fn, opts }) => window[fn](opts), { fn: job.fn, opts: job.opts ?? {} });
		let timer;
		const timeout = new Promise((resolve) => {
			timer = setTimeout(() => resolve({ timedOut: true }), Math.max(0, deadline - Date.now()));
		});
		const outcome = await Promise.race([evaluation.then((value) => ({ value })), timeout]);
		clearTimeout(timer);
		if (outcome.timedOut) {
			// Grab what the page saw so far before giving up on it.
			let transports = null;
			try {
				transports = await page.evaluate(() => window.moqTransports());
			} catch {
				// ignore
			}
			evaluation.catch(() => {});
			return { ok: false, driverError: "job did not finish before the driver timeout", transports };
		}
		const value = outcome.value ?? { ok: false, driverError: "job returned nothing" };
		value.elapsedMs = Date.now() - started;
		return value;
	} catch (err) {
		record(`driver: ${err?.message ?? err}`);
		return { ok: false, driverError: String(err?.message ?? err) };
	} finally {
		await page.close().catch(() => {});
	}
}

async function main() {
	const { jobs, timeoutMs } = parseJobs(await readStdin());
	const started = Date.now();
	const deadline = started + timeoutMs;

	const bundlePath = await bundle();
	const server = await serve(bundlePath);
	const origin = `http://127.0.0.1:${server.address().port}`;
	const userDataDir = mkdtempSync(join(tmpdir(), "gomoq-e2e-chromium-"));

	let context;
	let browserVersion = null;
	const consoleSink = {};
	const results = {};
	try {
		// A persistent context, so that the profile lives in a fresh directory we own
		// (playwright-core passes it as --user-data-dir and refuses it in `args`).
		context = await launch({ executablePath: CHROMIUM, userDataDir, options: { args: CHROMIUM_ARGS }, log });
		// The persistent context opens an about:blank page; use it only to read the version.
		const blank = context.pages()[0] ?? (await context.newPage());
		browserVersion = await blank.evaluate(() => navigator.userAgent).catch(() => null);
		const outcomes = await Promise.all(jobs.map((job) => runJob(context, origin, job, consoleSink, deadline)));
		jobs.forEach((job, i) => {
			results[job.id] = outcomes[i];
		});
	} finally {
		await context?.close().catch(() => {});
		server.close();
		rmSync(userDataDir, { recursive: true, force: true });
	}
	process.stdout.write(
		`${JSON.stringify({
			results,
			console: consoleSink,
			driver: { origin, chromium: CHROMIUM, browserVersion, args: CHROMIUM_ARGS, elapsedMs: Date.now() - started },
		})}\n`,
	);
}

main().then(
	() => process.exit(0),
	(err) => {
		log(`run.mjs: ${err?.stack ?? err}`);
		process.exit(1);
	},
);
