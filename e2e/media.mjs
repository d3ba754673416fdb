#!/usr/bin/env node
// Opens the relay's own /publish and /watch pages (relay/media.html, the
// bundles in relay/web/) in headless Chromium and reports what the watcher
// decoded, for media_test.go.
//
//   node e2e/media.mjs < job.json
//
// job.json: {"relay": "http://127.0.0.1:PORT", "name": "BROADCAST",
//            "publish": true,              open /publish?name=…&source=SOURCE first (the fake
//                                          camera and microphone), else something else publishes
//            "source": "camera",           or "screen" (Chromium's fake screen capture)
//            "watchFirst": false,          with publish: open /watch first, and /publish once
//                                          the watcher is connected (it waits for the announce)
//            "y4m": "/path/solid.y4m",     the fake camera's picture (optional)
//            "videoFrames": 30, "audioFrames": 20,  decoded outputs to wait for
//            "screenshot": "/path.png", "timeoutMs": 60000}
//
// Playwright's launch gives the browser a fresh temporary profile and deletes
// it afterwards; each page gets its own context.
//
// The watcher's VideoDecoder and AudioDecoder are wrapped before the page's
// bundle runs, so that every decoded output is counted (not the chunks
// received). stdout gets one JSON line: {"ok": true, ...} or
// {"ok": false, "error": "...", ...}, with what was seen either way.

import { launch } from "./chromium.mjs";

const CHROMIUM = process.env.GOMOQ_E2E_CHROMIUM || "/usr/bin/chromium";

async function readStdin() {
	const chunks = [];
	for await (const chunk of process.stdin) chunks.push(chunk);
	return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

// Runs in the watch page before its scripts: counts decoder outputs.
function countDecoders() {
	const m = {
		video: { configured: [], decoded: 0, firstMs: null, width: 0, height: 0, lastTimestamp: null, errors: [] },
		audio: { configured: [], decoded: 0, firstMs: null, sampleRate: 0, channels: 0, errors: [] },
	};
	window.__media = m;
	const wrap = (Orig, s, onFrame) =>
		class extends Orig {
			constructor(init) {
				super({
					...init,
					output: (out) => {
						s.decoded++;
						if (s.firstMs === null) s.firstMs = performance.now();
						onFrame(out);
						init.output(out);
					},
					error: (err) => {
						s.errors.push(String(err?.message ?? err));
						init.error(err);
					},
				});
			}
			configure(config) {
				s.configured.push(config.codec);
				return super.configure(config);
			}
		};
	if (window.VideoDecoder)
		window.VideoDecoder = wrap(window.VideoDecoder, m.video, (f) => {
			m.video.width = f.displayWidth;
			m.video.height = f.displayHeight;
			m.video.coded = [f.codedWidth, f.codedHeight];
			m.video.lastTimestamp = f.timestamp;
		});
	if (window.AudioDecoder)
		window.AudioDecoder = wrap(window.AudioDecoder, m.audio, (d) => {
			m.audio.sampleRate = d.sampleRate;
			m.audio.channels = d.numberOfChannels;
		});
}

// What the watch page shows: the element's signals, the decoder counts and
// the canvas's pixels (the mean colour of its middle half, and how much of
// the canvas is near black).
function readWatch() {
	const el = document.querySelector("moq-watch");
	const peek = (f) => {
		try {
			const v = f();
			return v === undefined ? null : JSON.parse(JSON.stringify(v, (_, x) => (typeof x === "bigint" ? Number(x) : x)));
		} catch (e) {
			return `error: ${e?.message ?? e}`;
		}
	};
	const out = {
		media: window.__media,
		url: el?.getAttribute("url") ?? null,
		status: peek(() => el.broadcast.out.status.peek()),
		catalog: peek(() => el.broadcast.out.catalog.peek()),
		videoStats: peek(() => el.video.out.stats.peek()),
		videoTimestamp: peek(() => el.video.out.timestamp.peek()),
		renderTimestamp: peek(() => el.renderer.out.timestamp.peek()),
		canvas: null,
	};
	const canvas = el?.querySelector("canvas");
	if (canvas && canvas.width > 0 && canvas.height > 0) {
		const ctx = canvas.getContext("2d");
		const { width: w, height: h } = canvas;
		const data = ctx.getImageData(0, 0, w, h).data;
		let r = 0, g = 0, b = 0, n = 0, dark = 0, all = 0;
		for (let y = 0; y < h; y += 4) {
			for (let x = 0; x < w; x += 4) {
				const i = (y * w + x) * 4;
				all++;
				if (data[i] + data[i + 1] + data[i + 2] < 48) dark++;
				if (x >= w / 4 && x < (3 * w) / 4 && y >= h / 4 && y < (3 * h) / 4) {
					r += data[i];
					g += data[i + 1];
					b += data[i + 2];
					n++;
				}
			}
		}
		out.canvas = { width: w, height: h, mean: [r / n, g / n, b / n].map(Math.round), darkFraction: dark / all };
	}
	return out;
}

async function main() {
	const job = await readStdin();
	const timeout = job.timeoutMs ?? 60000;
	const args = [
		"--headless",
		"--no-sandbox",
		"--disable-gpu",
		"--no-first-run",
		"--disable-background-networking",
		"--disable-component-update",
		"--disable-sync",
		"--use-fake-ui-for-media-stream",
		"--use-fake-device-for-media-stream",
		"--autoplay-policy=no-user-gesture-required",
	];
	if (job.y4m) args.push(`--use-file-for-fake-video-capture=${job.y4m}`);
	const browser = await launch({ executablePath: CHROMIUM, options: { args }, log: (line) => process.stderr.write(`${line}\n`) });
	const consoleLines = { publish: [], watch: [] };
	const listen = (page, who) => {
		page.on("console", (msg) => {
			const line = `${msg.type()}: ${msg.text()}`;
			consoleLines[who].push(line);
			process.stderr.write(`[${who}] ${line}\n`);
		});
		page.on("pageerror", (err) => {
			const line = `pageerror: ${err?.stack || err}`;
			consoleLines[who].push(line);
			process.stderr.write(`[${who}] ${line}\n`);
		});
	};
	const result = { ok: false, console: consoleLines };
	let watch;
	try {
		const q = `name=${encodeURIComponent(job.name)}`;
		const openPublish = async () => {
			// Its own context: nothing shared with the watcher but the relay.
			const ctx = await browser.newContext({ permissions: ["camera", "microphone"], viewport: { width: 800, height: 600 } });
			const page = await ctx.newPage();
			listen(page, "publish");
			const t0 = Date.now();
			await page.goto(`${job.relay}/publish?${q}&source=${job.source ?? "camera"}`, { waitUntil: "load" });
			// Live once the relay lists the broadcast (announced).
			await page.waitForFunction(
				async (name) => {
					const rsp = await fetch("/announced/", { cache: "no-store" });
					return (await rsp.text()).split("\n").includes(name);
				},
				job.name,
				{ timeout, polling: 100 },
			);
			result.publishAnnouncedMs = Date.now() - t0;
		};
		const openWatch = async () => {
			const ctx = await browser.newContext({ viewport: { width: 800, height: 600 } });
			await ctx.addInitScript(countDecoders);
			watch = await ctx.newPage();
			listen(watch, "watch");
			await watch.goto(`${job.relay}/watch?${q}`, { waitUntil: "load" });
		};
		if (job.publish && !job.watchFirst) await openPublish();
		await openWatch();
		if (job.publish && job.watchFirst) {
			// The watcher is connected and waiting for the announcement
			// before the publisher exists.
			await watch.waitForFunction(() => document.querySelector("moq-watch")?.connection?.established?.peek?.() !== undefined, null, {
				timeout,
				polling: 100,
			});
			result.statusBeforePublish = await watch.evaluate(() => document.querySelector("moq-watch").broadcast.out.status.peek());
			await openPublish();
		}
		await watch.waitForFunction(
			([v, a]) => window.__media && window.__media.video.decoded >= v && window.__media.audio.decoded >= a,
			[job.videoFrames ?? 30, job.audioFrames ?? 0],
			{ timeout, polling: 100 },
		);
		// The renderer draws on animation frames: wait until the canvas
		// holds a picture (not all black), within the same bound.
		await watch.waitForFunction(
			() => {
				const c = document.querySelector("moq-watch canvas");
				if (!c || !c.width || !c.height) return false;
				const d = c.getContext("2d").getImageData(c.width >> 1, c.height >> 1, 1, 1).data;
				return d[0] + d[1] + d[2] > 0;
			},
			null,
			{ timeout, polling: 100 },
		);
		Object.assign(result, await watch.evaluate(readWatch));
		if (job.screenshot) await watch.screenshot({ path: job.screenshot, fullPage: true });
		result.ok = true;
	} catch (err) {
		result.error = String(err?.message ?? err);
		if (watch) {
			try {
				Object.assign(result, await watch.evaluate(readWatch));
			} catch {
				// the page is gone
			}
		}
	} finally {
		// Leave the pages first, so that they end their sessions (a
		// browser that is only closed leaves the relay a session that
		// never ends, until the relay's shutdown gives up on it): the
		// watcher first, which would otherwise see the broadcast end
		// under it (@moq/watch logs the reset subscription as an error).
		if (watch) await watch.goto("about:blank").catch(() => {});
		for (const ctx of browser.contexts()) {
			for (const page of ctx.pages()) await page.goto("about:blank").catch(() => {});
		}
		await browser.close().catch(() => {});
	}
	process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().then(
	() => process.exit(0),
	(err) => {
		process.stderr.write(`media.mjs: ${err?.stack ?? err}\n`);
		process.exit(1);
	},
);
