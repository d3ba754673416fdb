#!/usr/bin/env node
// Loads a relay's landing page (GET /) in headless Chromium and follows its
// live broadcast list, for landing_test.go.
//
//   node e2e/landing.mjs < job.json
//
// job.json: {"url": "http://127.0.0.1:PORT/", "broadcast": "NAME", "screenshot": "/path.png",
//            "timeoutMs": 20000}
//
// stdout gets one JSON line per step, for the Go side to act on:
//   {"event":"ready", ...}  the page is up and lists no broadcast yet
//                           (the Go side then publishes NAME);
//   {"event":"seen", ...}   NAME appeared in the list without a reload (the screenshot is
//                           saved; the Go side then ends the broadcast);
//   {"event":"gone", ...}   NAME left the list;
//   {"event":"error", "error": "..."} on failure, last.
// Each carries `dom`: what the page shows (see readDOM). Console messages and page errors
// go to stderr and, as `console`, into every line.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launch } from "./chromium.mjs";

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

const consoleLines = [];

function emit(event, extra) {
	process.stdout.write(`${JSON.stringify({ event, console: consoleLines, ...extra })}\n`);
}

async function readStdin() {
	const chunks = [];
	for await (const chunk of process.stdin) chunks.push(chunk);
	return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

// What the page shows, as a user would read it.
function readDOM(page) {
	return page.evaluate(() => ({
		title: document.title,
		heading: document.querySelector("h1")?.textContent ?? null,
		url: document.getElementById("url")?.textContent ?? null,
		hash: document.getElementById("hash")?.textContent ?? null,
		broadcasts: [...document.querySelectorAll("#broadcasts li")].map((li) => li.textContent),
		chosen: document.querySelector("#broadcasts li.chosen")?.textContent ?? null,
		status: document.getElementById("status")?.textContent ?? null,
		js: document.getElementById("js")?.textContent ?? null,
		cli: document.getElementById("cli")?.textContent ?? null,
		authNote: document.getElementById("auth-note")?.textContent ?? null,
		watchLink: document.getElementById("watch-link")?.getAttribute("href") ?? null,
		publishLink: document.getElementById("publish-link")?.getAttribute("href") ?? null,
	}));
}

async function main() {
	const job = await readStdin();
	const timeout = job.timeoutMs ?? 20000;
	const userDataDir = mkdtempSync(join(tmpdir(), "gomoq-landing-chromium-"));
	const context = await launch({
		executablePath: CHROMIUM,
		userDataDir,
		options: { args: CHROMIUM_ARGS, viewport: { width: 1000, height: 900 } },
		log: (line) => process.stderr.write(`${line}\n`),
	});
	let page;
	try {
		page = context.pages()[0] ?? (await context.newPage());
		page.on("console", (msg) => {
			const line = `${msg.type()}: ${msg.text()}`;
			consoleLines.push(line);
			process.stderr.write(`[landing] ${line}\n`);
		});
		page.on("pageerror", (err) => {
			const line = `pageerror: ${err?.stack || err}`;
			consoleLines.push(line);
			process.stderr.write(`[landing] ${line}\n`);
		});
		await page.goto(job.url, { waitUntil: "load" });
		// The first refresh has answered: the list says there is nothing yet.
		await page.waitForFunction(() => /broadcasts?, updated/.test(document.getElementById("status")?.textContent ?? ""), null, { timeout });
		emit("ready", { dom: await readDOM(page) });

		// The page's own refresh brings the broadcast in.
		const item = `#broadcasts li[data-name=${JSON.stringify(job.broadcast)}]`;
		await page.waitForSelector(item, { timeout });
		await page.waitForFunction((name) => document.querySelector("#broadcasts li.chosen")?.dataset.name === name, job.broadcast, { timeout });
		if (job.screenshot) await page.screenshot({ path: job.screenshot, fullPage: true });
		emit("seen", { dom: await readDOM(page) });

		await page.waitForSelector(item, { state: "detached", timeout });
		emit("gone", { dom: await readDOM(page) });
	} catch (err) {
		let dom = null;
		try {
			dom = await readDOM(page);
		} catch {
			// ignore
		}
		emit("error", { error: String(err?.message ?? err), dom });
	} finally {
		await context.close().catch(() => {});
		rmSync(userDataDir, { recursive: true, force: true });
	}
}

main().then(
	() => process.exit(0),
	(err) => {
		process.stderr.write(`landing.mjs: ${err?.stack ?? err}\n`);
		process.exit(1);
	},
);
